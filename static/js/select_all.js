// Result lists: the header checkbox (data-select-all) ticks or clears every row checkbox
// (data-select-row) of its table, and shows "some" when only part of them is ticked. Listeners sit on
// the document, so rows htmx swaps in later work too. Loaded as a file because the CSP allows no
// inline script; without it the row checkboxes and "Remediate all N" still work.
function rowBoxes(table) {
  return Array.from(table.querySelectorAll("input[type=checkbox][data-select-row]")).filter((box) => !box.disabled);
}

function syncHeader(table) {
  const header = table.querySelector("input[type=checkbox][data-select-all]");
  if (!header) return;
  const boxes = rowBoxes(table);
  const ticked = boxes.filter((box) => box.checked).length;
  header.checked = boxes.length > 0 && ticked === boxes.length;
  header.indeterminate = ticked > 0 && ticked < boxes.length;
}

document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
  const table = box.closest("table");
  if (!table) return;
  if (box.hasAttribute("data-select-all")) {
    rowBoxes(table).forEach((row) => {
      row.checked = box.checked;
    });
    box.indeterminate = false;
  } else if (box.hasAttribute("data-select-row")) {
    syncHeader(table);
  }
});
