// Keyboard shortcuts for the SME review page. Keys come from data attributes rendered by the
// server; keys typed into fields are left alone. Without this file the page works as plain forms.
"use strict";
(function () {
  // Back and Forward load the case again from the server instead of restoring a snapshot: an
  // earlier panel could offer to decide a case that has been decided since.
  if (window.htmx) {
    window.htmx.config.historyCacheSize = 0;
    window.htmx.config.refreshOnHistoryMiss = true;
  }

  const NOT_TYPED = ["checkbox", "radio", "submit", "button"];

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    if (tag === "input") return !NOT_TYPED.includes((target.type || "").toLowerCase());
    return tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  // The review panel answers refused input (400) and conflicts (409) with the panel itself, saying
  // what happened; htmx leaves error responses unswapped unless told otherwise.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if ((status === 400 || status === 409) && event.detail.target && event.detail.target.id === "review-item") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

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
    if ((event.key === "Enter" || event.key === " ") && target.closest && target.closest("button, a")) {
      return; // a focused button or link does what it says
    }
    const confirmation = document.getElementById("exclude-confirm-form");
    if (confirmation) {
      // Confirming an exclusion: Enter says yes, Escape goes back; no other key decides anything.
      const button = confirmation.querySelector(`button[data-shortcut="${event.key.toLowerCase()}"]`);
      if (button) {
        event.preventDefault();
        button.click();
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
    // Multi-label cases: a label's key ticks or unticks it in the gold set; Enter decides.
    for (const box of form.querySelectorAll("input[data-toggle]")) {
      if (box.dataset.toggle.toLowerCase() === key) {
        event.preventDefault();
        box.checked = !box.checked;
        return;
      }
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

  // Span cases: text selected on any row becomes a typed span ("start end label" in the form's
  // extra spans) once the SME picks its label. Offsets count code points, as the server does;
  // JavaScript strings count UTF-16 units, so they are converted. Without this, typing does it.
  const codePoints = (text) => Array.from(text).length;

  function selectedSpan() {
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed || selection.rangeCount !== 1) return null;
    const range = selection.getRangeAt(0);
    const line = range.startContainer.parentElement && range.startContainer.parentElement.closest(".span-line");
    if (!line || !line.contains(range.endContainer)) return null;
    const block = line.closest(".span-block");
    const before = document.createRange();
    before.setStart(line, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const lead = before.toString();
    let chosen = range.toString();
    const trimmedStart = chosen.length - chosen.trimStart().length;
    chosen = chosen.trim();
    if (!chosen) return null;
    const start = Number(block.dataset.offset) + codePoints(lead) + trimmedStart;
    return { start: start, end: start + codePoints(chosen), text: chosen };
  }

  const showSelectHint = (root) => {
    root.querySelectorAll(".span-select-hint").forEach((hint) => { hint.hidden = false; });
  };
  document.addEventListener("DOMContentLoaded", () => showSelectHint(document));
  document.addEventListener("htmx:afterSwap", () => showSelectHint(document));

  document.addEventListener("mouseup", (event) => {
    const pick = document.getElementById("span-pick");
    if (!pick || pick.contains(event.target)) return;
    const span = selectedSpan();
    if (!span || !document.getElementById("id_extra_spans")) {
      pick.hidden = true;
      return;
    }
    pick.dataset.start = span.start;
    pick.dataset.end = span.end;
    document.getElementById("span-pick-text").textContent = `\u201c${span.text}\u201d (${span.start}\u2013${span.end})`;
    pick.hidden = false;
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#span-pick button[data-label]");
    if (!button) return;
    const pick = document.getElementById("span-pick");
    const field = document.getElementById("id_extra_spans");
    if (!field) return;
    const line = `${pick.dataset.start} ${pick.dataset.end} ${button.dataset.label}`;
    field.value = field.value.trim() ? `${field.value.replace(/\s+$/, "")}\n${line}` : line;
    pick.hidden = true;
    window.getSelection().removeAllRanges();
  });
})();
