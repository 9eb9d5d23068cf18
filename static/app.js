// Concord's small shared script: confirmations for destructive buttons. Page-specific
// behaviour (the labeling keyboard, charts) lives in its own file next to this one.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Label colours come from the database; set them through the DOM because the CSP forbids
// inline style attributes.
const paintSwatches = (root) => {
  root.querySelectorAll("[data-colour]").forEach((element) => {
    if (/^#[0-9a-fA-F]{6}$/.test(element.dataset.colour)) {
      element.style.backgroundColor = element.dataset.colour;
    }
  });
};
document.addEventListener("DOMContentLoaded", () => paintSwatches(document));
document.addEventListener("htmx:afterSwap", (event) => paintSwatches(event.target));
