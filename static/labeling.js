// The labeling page at the speed of thought. The server renders the examples the labeler holds
// (the first one shown, the others hidden in #lease-queue). A label key shows the next one at
// once and queues the label; the labels are sent one after another in the background, each with
// its client token, so a retry after a failure stores it once. A submit's answer brings the
// examples held next. Keys pressed while no example is on screen wait, in order, for the next one.
// Without this file the page still works as plain forms.
// Multi-label projects (#label-set): label keys check or uncheck a label (the chosen set is shown),
// Enter sends the checked set, "." sends "none of these" where the project allows it; these keys
// queue in order like label keys when no example is on screen.
"use strict";
(function () {
  const BACKGROUND = { "X-Concord-Background": "1" };
  const RETRY_MS = [500, 1000, 2000, 4000, 8000];
  let shownAt = performance.now();
  let pending = []; // labels not yet acknowledged, in the order they were given
  let sending = false;
  let waitingKeys = []; // label keys (and, multi-label, Enter and ".") pressed while no example was shown
  let seen = new Set(); // examples this page has shown or queued (a held example comes back in every answer)
  let afterDrain = []; // actions (skip, undo) waiting until every label is saved
  const session = { count: 0, startedAt: null };

  const $ = (id) => document.getElementById(id);

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    if (tag === "input" && ["checkbox", "radio", "button", "submit"].includes(target.type)) return false;
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function focusField(id) {
    const field = $(id);
    if (field) {
      field.focus();
      if (typeof field.select === "function") field.select();
    }
  }

  function paint(root) {
    root.querySelectorAll("[data-colour]").forEach((element) => {
      if (/^#[0-9a-fA-F]{6}$/.test(element.dataset.colour)) element.style.backgroundColor = element.dataset.colour;
    });
    root.querySelectorAll("button.label-button").forEach((button) => {
      const swatch = button.querySelector("[data-colour]");
      if (swatch && /^#[0-9a-fA-F]{6}$/.test(swatch.dataset.colour)) {
        button.style.borderLeft = "6px solid " + swatch.dataset.colour;
      }
    });
  }

  // ---------------------------------------------------------------- what is on screen

  function current() {
    const holder = $("current-example");
    return holder ? holder.querySelector("section.lease") : null;
  }

  function remember(root) {
    seen = new Set();
    root.querySelectorAll("section.lease").forEach((lease) => seen.add(lease.dataset.exampleId));
  }

  // One line of news under the example. `kind` says who may clear it: "save" (a background save's
  // trouble, cleared when a save succeeds) or "hint" (why a key did nothing, cleared by the labeler's
  // next choice), so a save finishing in the background never wipes a hint the labeler has not read.
  let statusKind = "";

  function showStatus(text, kind) {
    const status = $("save-status");
    if (!status) return;
    statusKind = text ? kind : "";
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("message", Boolean(text));
    status.classList.toggle("error", Boolean(text));
  }

  function showWaitingKeys() {
    const note = $("keys-waiting");
    if (note) note.textContent = waitingKeys.length ? `(${waitingKeys.length} key${waitingKeys.length > 1 ? "s" : ""} waiting)` : "";
  }

  function showSession() {
    const box = $("session-progress");
    if (!box) return;
    box.hidden = false;
    $("session-count").textContent = String(session.count);
    if (session.startedAt !== null && session.count > 1) {
      const minutes = (performance.now() - session.startedAt) / 60000;
      $("session-pace").textContent = `(${(session.count / Math.max(minutes, 1 / 60)).toFixed(1)} a minute)`;
    }
  }

  // Put the next held example on screen and point the forms at it (or show that it is loading).
  function advance() {
    const holder = $("current-example");
    const queue = $("lease-queue");
    const area = $("work-area");
    if (!holder || !queue || !area) return;
    const next = queue.querySelector("section.lease");
    holder.replaceChildren();
    if (next) holder.appendChild(next);
    const form = $("label-form");
    const skip = $("skip-form");
    $("waiting-next").hidden = Boolean(next);
    area.dataset.exampleId = next ? next.dataset.exampleId : "";
    if (next) {
      form.action = next.dataset.submitUrl;
      form.querySelector("input[name=client_token]").value = next.dataset.token;
      if (skip) skip.action = next.dataset.skipUrl;
      shownAt = performance.now();
    }
    showWaitingKeys();
  }

  function resetFields() {
    const box = $("id_ambiguous");
    if (box) box.checked = false;
    for (const id of ["id_ambiguous_note", "id_note"]) if ($(id)) $(id).value = "";
    document.querySelectorAll("#label-set input[name=labels]").forEach((input) => (input.checked = false));
    showChosen();
  }

  // ---------------------------------------------------------------- multi-label: the chosen set

  const NONE_KEY = ".";

  function isMulti() {
    return Boolean($("label-set"));
  }

  function showChosen() {
    const names = [];
    document.querySelectorAll("#label-set .label-toggle").forEach((toggle) => {
      const input = toggle.querySelector("input[name=labels]");
      const on = Boolean(input && input.checked);
      toggle.classList.toggle("pressed", on);
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      if (on) names.push(toggle.dataset.labelName);
    });
    const chosen = $("chosen-set");
    if (chosen) chosen.textContent = names.length ? names.join(" + ") : "nothing yet";
  }

  function toggle(key) {
    if (!current()) {
      waitingKeys.push(key);
      showWaitingKeys();
      return;
    }
    for (const item of document.querySelectorAll("#label-set .label-toggle")) {
      if (item.dataset.shortcut.toLowerCase() === key) {
        const input = item.querySelector("input[name=labels]");
        input.checked = !input.checked;
      }
    }
    showChosen();
    clearHint();
  }

  // Send the checked set (or, with `none`, "none of these") for the shown example, and show the next.
  function answerSet(none) {
    const lease = current();
    if (!lease) {
      waitingKeys.push(none ? NONE_KEY : "enter");
      showWaitingKeys();
      return;
    }
    const form = $("label-form");
    const body = new URLSearchParams(new FormData(form));
    body.delete("submit_set");
    if (none) {
      body.delete("labels");
      body.set("none_of_these", "1");
    } else if (!body.getAll("labels").length) {
      showStatus($("none-of-these") ? 'Choose the labels that apply, or press "." for none of these.' : "Choose at least one label, then press Enter.", "hint");
      return;
    }
    body.set("client_token", lease.dataset.token);
    body.set("time_spent_ms", String(Math.round(performance.now() - shownAt)));
    queueAnswer(lease, body);
  }

  function clearHint() {
    if (statusKind === "hint") showStatus("");
  }

  function queueAnswer(lease, body) {
    clearHint();
    pending.push({ url: lease.dataset.submitUrl, body, exampleId: lease.dataset.exampleId, tries: 0 });
    if (session.startedAt === null) session.startedAt = shownAt;
    resetFields();
    advance();
    pump();
  }

  // ---------------------------------------------------------------- labeling

  function label(button) {
    const lease = current();
    if (!lease) {
      waitingKeys.push(button.dataset.shortcut);
      showWaitingKeys();
      return;
    }
    const form = $("label-form");
    const body = new URLSearchParams(new FormData(form));
    body.set("label", button.value);
    body.set("client_token", lease.dataset.token);
    body.set("time_spent_ms", String(Math.round(performance.now() - shownAt)));
    queueAnswer(lease, body);
  }

  function applyWaitingKeys() {
    while (waitingKeys.length && current()) {
      const key = waitingKeys.shift();
      if (isMulti()) {
        if (key === "enter") answerSet(false);
        else if (key === NONE_KEY) answerSet(true);
        else toggle(key);
        continue;
      }
      const button = document.querySelector(`#label-form button[data-shortcut="${CSS.escape(key)}"]`);
      if (button) label(button);
    }
    showWaitingKeys();
  }

  function addItems(html) {
    const queue = $("lease-queue");
    if (!queue) return;
    const template = document.createElement("template");
    template.innerHTML = html;
    template.content.querySelectorAll("section.lease").forEach((lease) => {
      if (!seen.has(lease.dataset.exampleId)) {
        seen.add(lease.dataset.exampleId);
        queue.appendChild(lease);
      }
    });
    paint(queue);
  }

  async function pump() {
    if (sending) return;
    if (!pending.length) {
      const actions = afterDrain;
      afterDrain = [];
      actions.forEach((action) => action());
      if (!actions.length && !current() && !$("lease-queue")?.querySelector("section.lease")) {
        reload(); // nothing held any more: the server says what is left (or that nothing is)
      }
      return;
    }
    sending = true;
    const item = pending[0];
    let response = null;
    try {
      response = await fetch(item.url, { method: "POST", body: item.body, headers: BACKGROUND, credentials: "same-origin" });
    } catch (error) {
      response = null;
    }
    sending = false;
    if (response === null || response.status >= 500 || response.status === 429) {
      // Not saved, or saved with the answer lost: the same token again stores it once.
      const wait = RETRY_MS[Math.min(item.tries, RETRY_MS.length - 1)];
      item.tries += 1;
      const why = response === null ? "the connection failed" : `the server answered ${response.status}`;
      showStatus(`Saving your label for example ${item.exampleId} failed (${why}); trying again in ${wait / 1000} s. Your labels are kept in order.`, "save");
      setTimeout(pump, wait);
      return;
    }
    pending.shift();
    let answer = {};
    try {
      answer = await response.json();
    } catch (error) {
      answer = { error: "The server's answer could not be read. Reload the page." };
    }
    if (response.ok) {
      if (statusKind === "save") showStatus("");
      session.count += 1;
      showSession();
      if (answer.undo) {
        const later = $("undo-later"); // rendered hidden when there was nothing to undo yet
        if (later) {
          later.id = "undo-form";
          later.querySelector("#undo-later-label").id = "undo-label";
          later.hidden = false;
        }
        if ($("undo-label")) $("undo-label").textContent = answer.undo;
      }
      if (typeof answer.items === "string") addItems(answer.items);
    } else {
      showStatus(`Your label for example ${item.exampleId} was not saved: ${answer.error || response.status}`, "refused");
    }
    if (!current()) {
      advance();
      applyWaitingKeys();
    }
    pump();
  }

  // ---------------------------------------------------------------- skip, undo, reload

  function replaceWorkArea(html) {
    const area = $("work-area");
    if (!area) return;
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.querySelector("#work-area");
    if (!fresh) return;
    area.replaceWith(fresh);
    remember(fresh);
    paint(fresh);
    showChosen();
    shownAt = performance.now();
    if (document.activeElement && isTyping(document.activeElement)) document.activeElement.blur();
    showSession();
    applyWaitingKeys();
  }

  async function post(form) {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    });
    replaceWorkArea(await response.text());
  }

  async function reload() {
    const area = $("work-area");
    if (!area) return;
    const response = await fetch(area.dataset.labelUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
    if (response.ok && !current() && !pending.length) replaceWorkArea(await response.text());
  }

  // Skip and undo act on what the server holds: they wait until every queued label is saved.
  function whenSaved(action) {
    if (!pending.length && !sending) action();
    else afterDrain.push(action);
  }

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!form || !["label-form", "skip-form", "undo-form"].includes(form.id)) return;
      event.preventDefault();
      if (form.id === "label-form") {
        const button = event.submitter;
        if (button && button.name === "label") label(button);
        else if (isMulti()) answerSet(Boolean(button && button.name === "none_of_these"));
        return;
      }
      if (form.id === "skip-form" && !current()) return;
      whenSaved(() => post(form));
    },
    true,
  );

  document.addEventListener("DOMContentLoaded", () => {
    const area = $("work-area");
    if (area) {
      remember(area);
      paint(area);
      showChosen();
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target && event.target.name === "labels") showChosen(); // a box clicked or toggled by Space
  });

  window.addEventListener("beforeunload", (event) => {
    if (pending.length) event.preventDefault(); // labels not saved yet
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
      const panel = $("guideline-panel");
      if (panel) panel.open = !panel.open;
      event.preventDefault();
      return;
    }
    const form = $("label-form");
    if (key === "u") {
      const undo = $("undo-form");
      if (undo && !undo.hidden) {
        event.preventDefault();
        whenSaved(() => post(undo));
      }
      return;
    }
    if (!form) return;
    if (isMulti() && (event.key === "Enter" || event.key === NONE_KEY)) {
      if (event.key === NONE_KEY && !$("none-of-these")) return;
      event.preventDefault();
      answerSet(event.key === NONE_KEY);
      return;
    }
    if (key === "a") {
      const box = $("id_ambiguous");
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
    } else if (isMulti()) {
      for (const item of form.querySelectorAll("#label-set .label-toggle")) {
        if (item.dataset.shortcut.toLowerCase() === key) {
          event.preventDefault();
          toggle(key);
          return;
        }
      }
    } else {
      for (const button of form.querySelectorAll("button[data-shortcut]")) {
        if (button.dataset.shortcut.toLowerCase() === key) {
          event.preventDefault();
          label(button);
          return;
        }
      }
    }
  });
})();
