// Toasts (Django's messages, rendered by base.html): the × button dismisses its toast. Without this
// file the messages simply stay until the next page. A file, as the CSP allows no inline script.
document.addEventListener("click", (event) => {
  const close = event.target.closest ? event.target.closest(".toast .toast-close") : null;
  if (!close) return;
  const toast = close.closest(".toast");
  toast.classList.add("is-dismissed");
  // Keep the keyboard somewhere sensible: the next toast's button, or the page's main content.
  const next = document.querySelector(".toast:not(.is-dismissed) .toast-close");
  const main = document.querySelector("main");
  if (next) {
    next.focus();
  } else if (main) {
    main.setAttribute("tabindex", "-1");
    main.focus();
  }
});
