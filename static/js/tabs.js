// Tabs (<nav class="tabs" role="tablist"> of <a role="tab"> links): the arrow keys, Home and End move
// between the tabs as the ARIA tabs pattern expects; Enter follows the link as usual. Without this
// file the tabs are plain links, reached with Tab. One listener on the document, so tabs htmx swaps
// in work too.
const TAB_KEYS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

document.addEventListener("keydown", (event) => {
  const tab = event.target.closest ? event.target.closest("[role=tablist] [role=tab]") : null;
  if (!tab || event.ctrlKey || event.metaKey || event.altKey) return;
  const tabs = Array.from(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
  const here = tabs.indexOf(tab);
  let next = -1;
  if (event.key in TAB_KEYS) next = (here + TAB_KEYS[event.key] + tabs.length) % tabs.length;
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = tabs.length - 1;
  if (next < 0) return;
  event.preventDefault();
  tabs[next].focus();
});
