// Asks before a consequential submit: a submit button with data-confirm="question" sends its form
// only when the user answers OK. Loaded as a file because the CSP allows no inline script.
document.addEventListener(
  "submit",
  (event) => {
    const button = event.submitter;
    const question = button && button.dataset ? button.dataset.confirm : "";
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
