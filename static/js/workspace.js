// Investigation workspace. Works without it too: the header filter is a GET form the server applies,
// and the message page's tabs are links to panels that all show.

// Filter table rows as you type (the header list of the message page).
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

// Tabs: a nav.tabs[role=tablist] whose tabs name their panels (aria-controls) shows one panel at a
// time. The address's #fragment picks the tab (a panel, or anything inside one: #attachments), and a
// chosen tab goes back into the address, so reloading or sharing the link keeps it. Arrow keys, Home
// and End move between tabs, as the ARIA tabs pattern has it.
function tabsOf(list) {
  return Array.from(list.querySelectorAll("a[role=tab][aria-controls]"));
}

function selectTab(list, tab, focus) {
  tabsOf(list).forEach((t) => {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    const panel = document.getElementById(t.getAttribute("aria-controls"));
    if (panel) panel.hidden = !on;
  });
  if (focus) tab.focus();
}

// A tab the user chose: shown, and named in the address (replacing it, so Back leaves the page).
function chooseTab(list, tab, focus) {
  selectTab(list, tab, focus);
  history.replaceState(history.state, "", `#${tab.getAttribute("aria-controls")}`);
}

function tabForFragment(list) {
  if (!location.hash) return null;
  let target = null;
  try {
    target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  } catch (error) {
    return null;
  }
  const panel = target ? target.closest("[role=tabpanel]") : null;
  return panel ? tabsOf(list).find((t) => t.getAttribute("aria-controls") === panel.id) || null : null;
}

function applyTabs(root) {
  root.querySelectorAll("nav.tabs[role=tablist]").forEach((list) => {
    if (list.dataset.tabsBound) return;
    const tabs = tabsOf(list);
    if (!tabs.length || tabs.some((t) => !document.getElementById(t.getAttribute("aria-controls")))) return;
    list.dataset.tabsBound = "1";
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", (event) => {
        event.preventDefault();
        chooseTab(list, tab, false);
      });
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        chooseTab(list, tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      });
    });
    const chosen = tabForFragment(list) || tabs.find((t) => t.getAttribute("aria-selected") === "true") || tabs[0];
    selectTab(list, chosen, false);
  });
}

window.addEventListener("hashchange", () => {
  document.querySelectorAll("nav.tabs[role=tablist][data-tabs-bound]").forEach((list) => {
    const tab = tabForFragment(list);
    if (tab) selectTab(list, tab, false);
  });
});
document.addEventListener("DOMContentLoaded", () => {
  applyRowFilters(document);
  applyTabs(document);
});
document.addEventListener("htmx:load", (event) => applyRowFilters(event.target));
