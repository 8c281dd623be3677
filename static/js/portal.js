// Keyboard: "/" focuses the first search box on the page, as in the tools analysts already use.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const tag = (event.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
  const box = document.querySelector("input[type=search], [data-quick-search]");
  if (box) {
    event.preventDefault();
    box.focus();
  }
});
