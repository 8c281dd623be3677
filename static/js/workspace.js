// Investigation workspace: filter table rows as you type (the header list of the message page).
// Works without it too: the filter box is a GET form the server applies.
function applyRowFilters(root) {
  root.querySelectorAll("[data-filter-rows]").forEach((input) => {
    if (input.dataset.filterBound) return;
    input.dataset.filterBound = "1";
    const rows = document.querySelector(input.dataset.filterRows);
    if (!rows) return;
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      rows.querySelectorAll("tr").forEach((row) => {
        row.classList.toggle("filtered-out", needle !== "" && !row.textContent.toLowerCase().includes(needle));
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", () => applyRowFilters(document));
document.addEventListener("htmx:load", (event) => applyRowFilters(event.target));
