// Keyboard shortcuts and timing for the labeling page. Shortcut keys come from data attributes
// rendered by the server; keys typed into inputs and text areas are left alone. Without this
// file the page still works as plain forms.
"use strict";
(function () {
  let shownAt = performance.now();

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function focusField(id) {
    const field = document.getElementById(id);
    if (field) {
      field.focus();
      if (typeof field.select === "function") field.select();
    }
  }

  // Time spent on the example, written just before the label form submits (capture phase, so
  // it runs before htmx reads the form).
  document.addEventListener(
    "submit",
    (event) => {
      if (event.target && event.target.id === "label-form") {
        const field = document.getElementById("id_time_spent_ms");
        if (field) field.value = String(Math.round(performance.now() - shownAt));
      }
    },
    true,
  );

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.target && event.target.id === "work-area") shownAt = performance.now();
  });
  document.addEventListener("htmx:afterSettle", () => {
    // Leave focus on the page body so the next shortcut is not typed into a field.
    if (document.activeElement && isTyping(document.activeElement)) document.activeElement.blur();
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") {
        target.blur();
        event.preventDefault();
      } else if (event.key === "Enter" && target.form && target.form.id === "label-form") {
        // Enter in a note must not submit the first label button by accident.
        target.blur();
        event.preventDefault();
      }
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "?") {
      const panel = document.getElementById("guideline-panel");
      if (panel) panel.open = !panel.open;
      event.preventDefault();
      return;
    }
    const form = document.getElementById("label-form");
    if (key === "u") {
      const undo = document.querySelector("#undo-form button[type=submit]");
      if (undo) {
        event.preventDefault();
        undo.click();
      }
      return;
    }
    if (!form) return;
    if (key === "a") {
      const box = document.getElementById("id_ambiguous");
      if (box) {
        box.checked = !box.checked;
        if (box.checked) focusField("id_ambiguous_note");
      }
      event.preventDefault();
    } else if (key === "n") {
      event.preventDefault();
      focusField("id_note");
    } else if (key === "s") {
      event.preventDefault();
      focusField("id_skip_reason");
    } else {
      for (const button of form.querySelectorAll("button[data-shortcut]")) {
        if (button.dataset.shortcut.toLowerCase() === key) {
          event.preventDefault();
          // A real click, so htmx (and plain forms) send this button's name and value.
          button.click();
          return;
        }
      }
    }
  });
})();
