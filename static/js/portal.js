// Keyboard shortcuts, as in the consoles analysts already use:
//   /        the page's search field (unless a field already has focus: then "/" is typed as usual)
//   g, then  h home, t track & trace, a archive, r requests, p approvals, u audit trail, i investigations
//            (only the pages this user's navigation links to)
//   j / k    the next / previous row of the page's result table; Enter opens the row's link
//   ?        this list, in a dialog that Escape closes
// No shortcut fires while typing in a field or with Ctrl, Alt or Cmd held. A file because the CSP
// allows no inline script.
(() => {
  // [key, the page's path, the words of its navigation link, what the help dialog calls it]
  const PLACES = [
    ["h", "/", "home", "Home"],
    ["t", "/search/track/", "track", "Track & trace"],
    ["a", "/search/archive/", "archive", "Archive search"],
    ["r", "/remediation/", "requests", "Requests"],
    ["p", "/remediation/approvals/", "approvals", "Approvals"],
    ["u", "/audit/", "audit", "Audit trail"],
    ["i", "/cases/", "investigations", "Investigations"],
  ];
  const SEQUENCE_MS = 1500;
  let awaitingPlace = false;
  let sequenceTimer = null;
  let currentRow = null;

  const isTyping = (element) => {
    if (!element || !element.tagName) return false;
    const tag = element.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || element.isContentEditable;
  };

  const visible = (element) => Boolean(element && (element.offsetWidth || element.offsetHeight || element.getClientRects().length));

  // The page's search field: the one marked as such, a search box, else the first text field of the
  // page's own GET form (the filters of a list).
  const searchField = () => {
    const candidates = document.querySelectorAll(
      "main [data-quick-search], main input[type=search], main form[method=get] input[type=text], main form[method=get] input[type=email], main form[method=get] input:not([type])",
    );
    return Array.from(candidates).find((field) => visible(field) && !field.disabled) || null;
  };

  // The navigation link for a place, present only when the user may open that page.
  const placeLink = (place) => {
    const links = Array.from(document.querySelectorAll("header nav a[href]"));
    const [, path, words] = place;
    return (
      links.find((link) => new URL(link.href, document.baseURI).pathname === path) ||
      links.find((link) => link.textContent.trim().toLowerCase().startsWith(words)) ||
      null
    );
  };

  // The result table j and k walk: one marked data-keyboard-rows, else the first table of rows with links.
  const rowTable = () => {
    const marked = Array.from(document.querySelectorAll("table[data-keyboard-rows]")).find(visible);
    if (marked) return marked;
    return Array.from(document.querySelectorAll("main table.table")).find((table) => visible(table) && table.querySelector("tbody a[href]")) || null;
  };

  const rowsOf = (table) => Array.from(table.querySelectorAll("tbody tr")).filter((row) => visible(row) && row.querySelector("a[href]"));

  const rowLink = (row) => row.querySelector("a[data-row-link][href]") || row.querySelector("a[href]");

  const highlight = (row) => {
    if (currentRow) {
      currentRow.classList.remove("kb-current");
      currentRow.removeAttribute("aria-current");
    }
    currentRow = row;
    if (!row) return;
    row.classList.add("kb-current");
    row.setAttribute("aria-current", "true");
    const link = rowLink(row);
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  };

  const moveRow = (step) => {
    const table = rowTable();
    if (!table) return false;
    const rows = rowsOf(table);
    if (!rows.length) return false;
    const at = currentRow ? rows.indexOf(currentRow) : -1;
    const next = at === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
    highlight(rows[next]);
    return true;
  };

  const shortcutRows = () => {
    const rows = [
      ["/", "Go to the page's search field"],
      ["j / k", "Next / previous row of the results"],
      ["Enter", "Open the highlighted row"],
    ];
    for (const place of PLACES) {
      if (placeLink(place)) rows.push([`g then ${place[0]}`, `Go to ${place[3]}`]);
    }
    rows.push(["?", "Show this list"], ["Esc", "Close this list"]);
    return rows;
  };

  const helpDialog = () => {
    let dialog = document.getElementById("shortcuts-dialog");
    if (dialog) dialog.remove();
    dialog = document.createElement("dialog");
    dialog.id = "shortcuts-dialog";
    dialog.className = "shortcuts";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    const title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    const list = document.createElement("dl");
    for (const [keys, what] of shortcutRows()) {
      const term = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = keys;
      term.appendChild(kbd);
      const description = document.createElement("dd");
      description.textContent = what;
      list.append(term, description);
    }
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = "Shortcuts do nothing while you type in a field.";
    const form = document.createElement("form");
    form.method = "dialog";
    const close = document.createElement("button");
    close.type = "submit";
    close.textContent = "Close";
    form.appendChild(close);
    dialog.append(title, list, note, form);
    document.body.appendChild(dialog);
    dialog.addEventListener("close", () => dialog.remove());
    return dialog;
  };

  const resetSequence = () => {
    awaitingPlace = false;
    if (sequenceTimer) clearTimeout(sequenceTimer);
    sequenceTimer = null;
  };

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    if (document.querySelector("dialog[open]")) return; // a dialog has the keyboard (Escape closes it)
    const key = event.key;
    if (awaitingPlace) {
      resetSequence();
      const place = PLACES.find(([letter]) => letter === key);
      const link = place && placeLink(place);
      if (link) {
        event.preventDefault();
        link.click();
      }
      return;
    }
    if (key === "?") {
      event.preventDefault();
      helpDialog().showModal();
    } else if (event.shiftKey) {
      // Every other shortcut is a plain key.
    } else if (key === "/") {
      const field = searchField();
      if (field) {
        event.preventDefault();
        // After a search the form is folded into its panel: unfold it, or the field cannot take focus.
        const panel = field.closest("details");
        if (panel) panel.open = true;
        field.focus();
        field.select();
      }
    } else if (key === "g") {
      awaitingPlace = true;
      sequenceTimer = setTimeout(resetSequence, SEQUENCE_MS);
    } else if (key === "j" || key === "k") {
      if (moveRow(key === "j" ? 1 : -1)) event.preventDefault();
    } else if (key === "Enter" && currentRow && document.contains(currentRow)) {
      // Enter on a focused link or button does its own thing; this opens the row when nothing is focused.
      const focused = document.activeElement;
      if (focused && focused !== document.body && focused !== currentRow) return;
      const link = rowLink(currentRow);
      if (link) {
        event.preventDefault();
        link.click();
      }
    }
  });

  // A table htmx swapped in is a new list: j starts again at its first row.
  document.addEventListener("htmx:afterSwap", () => {
    if (currentRow && !document.contains(currentRow)) currentRow = null;
  });
})();
