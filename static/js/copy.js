// Copy buttons: <button type="button" class="copy" data-copy="VALUE" aria-label="Copy …"> puts VALUE on
// the clipboard, shows "Copied" for a moment and says so to screen readers through #live-status.
// One listener on the document, so buttons htmx swaps in later work too. A file, as the CSP wants.
const COPIED_FOR_MS = 1500;

function announce(text) {
  const live = document.getElementById("live-status");
  if (!live) return;
  // Cleared first, so the same words said twice are announced twice.
  live.textContent = "";
  window.setTimeout(() => {
    live.textContent = text;
  }, 50);
}

function copyByHand(value) {
  // Without the asynchronous clipboard (a page served over plain HTTP from another host): a hidden
  // text area, selected and copied the old way.
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.appendChild(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch (error) {
    done = false;
  }
  area.remove();
  return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function showCopied(button, ok) {
  const original = button.dataset.copyText === undefined ? button.textContent : button.dataset.copyText;
  button.dataset.copyText = original;
  button.classList.toggle("copied", ok);
  if (original !== "") button.textContent = ok ? "Copied" : "Copy failed";
  announce(ok ? "Copied to the clipboard" : "Could not copy; select the value and copy it by hand");
  window.clearTimeout(Number(button.dataset.copyTimer || 0));
  button.dataset.copyTimer = String(
    window.setTimeout(() => {
      button.classList.remove("copied");
      if (original !== "") button.textContent = original;
    }, COPIED_FOR_MS),
  );
}

document.addEventListener("click", (event) => {
  const button = event.target.closest ? event.target.closest("button.copy[data-copy]") : null;
  if (!button) return;
  event.preventDefault();
  const value = button.dataset.copy;
  const copying =
    navigator.clipboard && window.isSecureContext ? navigator.clipboard.writeText(value) : copyByHand(value);
  copying.then(
    () => showCopied(button, true),
    () => copyByHand(value).then(
      () => showCopied(button, true),
      () => showCopied(button, false),
    ),
  );
});
