// Keyboard for an example's media (templates/components/example_media.html). Loaded once, even
// when htmx swaps the partial in again: it looks the media up at key time, so new examples work.
// Keys: + / - zoom the image, 0 fits it (or * when a label's shortcut is 0); Space plays or
// pauses the audio, the left and right arrows seek 5 seconds. Labels use letters and digits.
(() => {
  if (window.concordMedia) return;
  window.concordMedia = true;
  const STEPS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8];

  const typing = (el) =>
    el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const labelUsesZero = () => !!document.querySelector('button[data-shortcut="0"]');

  function resetKeyHint() {
    const zeroTaken = labelUsesZero();
    for (const hint of document.querySelectorAll(".media-reset-key")) hint.textContent = zeroTaken ? "*" : "0";
  }

  function zoom(image, step) {
    let scale = parseFloat(image.dataset.zoom || "1");
    if (step === "reset") scale = 1;
    else {
      const index = STEPS.indexOf(scale);
      const next = index + (step === "in" ? 1 : -1);
      scale = STEPS[Math.max(0, Math.min(STEPS.length - 1, next < 0 ? 0 : next))];
    }
    if (image.dataset.zoom === "1" || !image.dataset.fitWidth) {
      // The size that fits the screen, measured before zooming away from it.
      image.dataset.fitWidth = image.getBoundingClientRect().width || image.naturalWidth;
    }
    image.dataset.zoom = String(scale);
    if (scale === 1) {
      image.classList.remove("zoomed");
      image.style.width = "";
    } else {
      image.classList.add("zoomed");
      image.style.width = `${Math.round(parseFloat(image.dataset.fitWidth) * scale)}px`;
    }
    const level = image.closest(".example-media").querySelector(".media-zoom-level");
    if (level) level.textContent = `${Math.round(scale * 100)}%`;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-zoom-step]");
    if (!button) return;
    const image = button.closest(".example-media").querySelector(".media-image");
    if (image) zoom(image, button.dataset.zoomStep);
  });

  document.addEventListener("htmx:afterSettle", resetKeyHint);
  document.addEventListener("DOMContentLoaded", resetKeyHint);
  resetKeyHint();

  // Capture phase: these keys are handled before the page's label shortcuts see them, and Space
  // never "clicks" a focused label button.
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      // On the labeling page the shown example is in #current-example; the held ones wait hidden.
      const media =
        document.querySelector("#current-example .example-media") || document.querySelector(".example-media");
      const image = media?.querySelector(".media-image");
      const audio = media?.querySelector(".media-audio");
      const key = event.key;
      let handled = true;
      if (image && (key === "+" || key === "=")) zoom(image, "in");
      else if (image && (key === "-" || key === "_")) zoom(image, "out");
      else if (image && (key === "*" || (key === "0" && !labelUsesZero()))) zoom(image, "reset");
      else if (audio && key === " ") {
        if (audio.paused) audio.play().catch(() => {});
        else audio.pause();
      } else if (audio && (key === "ArrowLeft" || key === "ArrowRight")) {
        const delta = key === "ArrowLeft" ? -5 : 5;
        const end = Number.isFinite(audio.duration) ? audio.duration : audio.currentTime + delta;
        audio.currentTime = Math.max(0, Math.min(end, audio.currentTime + delta));
      } else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );
})();
