// Keyboard shortcuts for the SME review page. Keys come from data attributes rendered by the
// server; keys typed into fields are left alone. Without this file the page works as plain forms.
"use strict";
(function () {
  function isTyping(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("htmx:afterSettle", () => {
    if (document.activeElement && isTyping(document.activeElement)) document.activeElement.blur();
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") {
        target.blur();
        event.preventDefault();
      }
      return;
    }
    const form = document.getElementById("resolve-form");
    if (!form) return;
    const key = event.key.toLowerCase();
    if (key === "n") {
      event.preventDefault();
      const field = document.getElementById("id_rationale");
      if (field) field.focus();
      return;
    }
    for (const button of form.querySelectorAll("button[data-shortcut]")) {
      if (button.dataset.shortcut.toLowerCase() === key) {
        event.preventDefault();
        button.click(); // a real click, so htmx and plain forms send the button's name and value
        return;
      }
    }
    if (key === "g") {
      const box = document.getElementById("id_guideline_gap");
      if (box) {
        event.preventDefault();
        box.checked = !box.checked;
      }
    }
  });
})();
