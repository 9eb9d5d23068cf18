// The labeling page at the speed of thought. The server renders the examples the labeler holds
// (the first one shown, the others hidden in #lease-queue). A label key shows the next one at
// once and queues the label; the labels are sent one after another in the background, each with
// its client token, so a retry after a failure stores it once. A submit's answer brings the
// examples held next. Keys pressed while no example is on screen wait, in order, for the next one.
// Without this file the page still works as plain forms.
// Multi-label projects (#label-set): label keys check or uncheck a label (the chosen set is shown),
// Enter sends the checked set, "." sends "none of these" where the project allows it; these keys
// queue in order like label keys when no example is on screen.
// Span projects (#span-form): the server renders the text as tokens carrying their code point
// offsets, so this script never counts characters (a JavaScript string counts UTF-16 units, an
// emoji two). Arrows move a token cursor, Shift extends the selection, the mouse selects whole
// tokens; a label key marks the selection; Delete removes the span at the cursor; Enter sends the
// spans, "." sends "no entities". Crossing spans (and any overlap where spans may not nest) are
// refused here with a hint, never sent. Every one of these keys queues like a label key.
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
    if (isSpans()) showSpans();
  }

  function resetFields() {
    const box = $("id_ambiguous");
    if (box) box.checked = false;
    for (const id of ["id_ambiguous_note", "id_note"]) if ($(id)) $(id).value = "";
    document.querySelectorAll("#label-set input[name=labels]").forEach((input) => (input.checked = false));
    showChosen();
    if ($("id_spans")) $("id_spans").value = "";
    span.lease = null;
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

  // ---------------------------------------------------------------- spans: tokens, selection, marks

  // The marks of the example on screen: a list of {start, end, label} (code points, label id), and
  // the selection as token indexes (anchor: where it started; focus: the cursor).
  const span = { lease: null, anchor: 0, focus: 0, list: [] };

  function isSpans() {
    return Boolean($("span-form"));
  }

  function spanState() {
    const lease = current();
    if (span.lease !== lease) Object.assign(span, { lease, anchor: 0, focus: 0, list: [] });
    return span;
  }

  function tokens() {
    const lease = current();
    return lease ? Array.from(lease.querySelectorAll("[data-role=span-text] .tok")) : [];
  }

  const offset = (element, name) => Number(element.dataset[name]);

  function spanLabels() {
    const labels = new Map();
    document.querySelectorAll("#span-form .span-label").forEach((button) => {
      const swatch = button.querySelector("[data-colour]");
      const colour = swatch && /^#[0-9a-fA-F]{6}$/.test(swatch.dataset.colour) ? swatch.dataset.colour : "#4c78a8";
      labels.set(button.dataset.labelId, { name: button.dataset.labelName, colour });
    });
    return labels;
  }

  function selected(toks) {
    const lo = Math.min(span.anchor, span.focus);
    const hi = Math.max(span.anchor, span.focus);
    return { lo, hi, start: offset(toks[lo], "start"), end: offset(toks[hi], "end") };
  }

  // The words of a span as written: its tokens and the whitespace between them.
  function spanWords(item) {
    const toks = tokens();
    const first = toks.find((tok) => offset(tok, "start") === item.start);
    const last = toks.find((tok) => offset(tok, "end") === item.end);
    let words = "";
    for (let node = first; node; node = node.nextSibling) {
      words += node.textContent;
      if (node === last) break;
    }
    return words.replace(/\s+/g, " ").trim();
  }

  function spanName(item) {
    const label = spanLabels().get(String(item.label));
    return `${label ? label.name : "?"} "${spanWords(item)}"`;
  }

  // Why a span from `start` to `end` cannot join the marks ("" when it can).
  function spanConflict(start, end, labelId) {
    const mayNest = $("span-form").dataset.mayNest === "1";
    for (const other of span.list) {
      if (start >= other.end || other.start >= end) continue;
      if (start === other.start && end === other.end && String(other.label) === labelId) {
        return `${spanName(other)} is already marked.`;
      }
      const nests = (start <= other.start && other.end <= end) || (other.start <= start && end <= other.end);
      if (!nests) return `That selection crosses ${spanName(other)}: spans may nest but not cross. Change the selection, or remove that span first (Delete).`;
      if (!mayNest) return `That selection overlaps ${spanName(other)}, and this project does not let spans nest. Remove that span first (Delete).`;
    }
    return "";
  }

  function markSpan(labelId) {
    const toks = tokens();
    spanState();
    if (!toks.length) {
      showStatus('This text has no words to mark: press "." for no entities.', "hint");
      return;
    }
    const { start, end } = selected(toks);
    const problem = spanConflict(start, end, labelId);
    if (problem) {
      showStatus(problem, "hint");
      return;
    }
    span.list.push({ start, end, label: labelId });
    span.list.sort((a, b) => a.start - b.start || b.end - a.end);
    clearHint();
    showSpans();
  }

  function removeSpans(gone) {
    span.list = span.list.filter((item) => !gone.includes(item));
    clearHint();
    showSpans();
  }

  // Delete: the span that is exactly the selection, else every span holding the cursor's token.
  function removeAtCursor() {
    const toks = tokens();
    spanState();
    if (!toks.length) return;
    const { start, end } = selected(toks);
    let gone = span.list.filter((item) => item.start === start && item.end === end);
    if (!gone.length) {
      const tok = toks[span.focus];
      gone = span.list.filter((item) => item.start <= offset(tok, "start") && offset(tok, "end") <= item.end);
    }
    if (gone.length) removeSpans(gone);
    else showStatus("There is no span at the cursor to remove.", "hint");
  }

  function moveCursor(step, extend) {
    const toks = tokens();
    spanState();
    if (!toks.length) return;
    span.focus = Math.min(Math.max(span.focus + step, 0), toks.length - 1);
    if (!extend) span.anchor = span.focus;
    showSpans();
  }

  // Paint the marks: a token in spans has the innermost span's colour as background and an
  // underline for each span around it; the list below names every span, with a remove button.
  function showSpans() {
    const toks = tokens();
    const labels = spanLabels();
    spanState();
    const colour = (item) => (labels.get(String(item.label)) || { colour: "#4c78a8" }).colour;
    const chosen = toks.length ? selected(toks) : null;
    // Spans around the characters from `start` to `end`, outermost first.
    const spansAround = (start, end) =>
      span.list.filter((item) => item.start <= start && end <= item.end).sort((a, b) => b.end - b.start - (a.end - a.start));
    const colourIn = (element, around) => {
      const inner = around[around.length - 1];
      element.style.backgroundColor = inner ? colour(inner) + "66" : "";
      element.style.boxShadow = around
        .slice(0, -1)
        .map((item, depth) => `inset 0 -${3 * (depth + 1)}px 0 ${colour(item)}`)
        .join(", ");
    };
    // The whitespace between two words of a span takes its colours too, so a span reads as one.
    const lease = current();
    if (lease) {
      lease.querySelectorAll("[data-role=span-text] .gap").forEach((gap) => {
        const before = gap.previousElementSibling;
        const after = gap.nextElementSibling;
        colourIn(gap, before && after ? spansAround(offset(before, "start"), offset(after, "end")) : []);
      });
    }
    toks.forEach((tok, index) => {
      const around = spansAround(offset(tok, "start"), offset(tok, "end"));
      colourIn(tok, around);
      tok.dataset.labels = around.map((item) => (labels.get(String(item.label)) || {}).name).join(" ");
      tok.classList.toggle("in-span", around.length > 0);
      tok.classList.toggle("selected", Boolean(chosen) && index >= chosen.lo && index <= chosen.hi && chosen.hi > chosen.lo);
      tok.classList.toggle("cursor", index === span.focus);
    });
    const list = $("span-list");
    if (!list) return;
    list.replaceChildren();
    for (const item of span.list) {
      const label = labels.get(String(item.label)) || { name: "?", colour: "#4c78a8" };
      const row = document.createElement("li");
      Object.assign(row.dataset, { start: item.start, end: item.end, label: label.name });
      row.classList.toggle("selected", Boolean(chosen) && chosen.start === item.start && chosen.end === item.end);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = label.colour;
      const words = document.createElement("span");
      words.textContent = `${label.name} · ${spanWords(item)}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove-span";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${spanName(item)}`);
      remove.addEventListener("click", () => removeSpans([item]));
      row.append(swatch, words, remove);
      list.appendChild(row);
    }
    const count = $("span-count");
    if (count) count.textContent = span.list.length ? `${span.list.length} span${span.list.length > 1 ? "s" : ""}:` : "No spans yet.";
  }

  // The mouse: a selection snaps to the whole tokens it touches; a click on a marked word selects
  // its innermost span, on another word puts the cursor there.
  function selectWithMouse(event) {
    const lease = current();
    const text = event.target.closest ? event.target.closest("[data-role=span-text]") : null;
    if (!lease || !text || !lease.contains(text)) return;
    const toks = tokens();
    spanState();
    const chosen = window.getSelection();
    let picked = [];
    if (chosen && !chosen.isCollapsed && chosen.rangeCount) {
      const range = chosen.getRangeAt(0);
      picked = toks.map((tok, index) => [tok, index]).filter(([tok]) => touches(range, tok)).map(([, index]) => index);
      chosen.removeAllRanges();
    }
    if (picked.length) {
      span.anchor = picked[0];
      span.focus = picked[picked.length - 1];
    } else {
      const tok = event.target.closest(".tok");
      if (!tok) return;
      const index = toks.indexOf(tok);
      const inner = span.list
        .filter((item) => item.start <= offset(tok, "start") && offset(tok, "end") <= item.end)
        .sort((a, b) => a.end - a.start - (b.end - b.start))[0];
      span.anchor = inner ? toks.findIndex((each) => offset(each, "start") === inner.start) : index;
      span.focus = inner ? toks.findIndex((each) => offset(each, "end") === inner.end) : index;
    }
    clearHint();
    showSpans();
  }

  // Whether a range covers at least one character of a token (not only its edge).
  function touches(range, tok) {
    if (!range.intersectsNode(tok)) return false;
    const inside = document.createRange();
    inside.selectNodeContents(tok);
    const startsAfter = range.compareBoundaryPoints(Range.START_TO_END, inside) <= 0; // range starts at or after tok's end
    const endsBefore = range.compareBoundaryPoints(Range.END_TO_START, inside) >= 0; // range ends at or before tok's start
    return !startsAfter && !endsBefore;
  }

  // Send the marked spans (or, with `none`, "no entities") for the shown example.
  function answerSpans(none) {
    const lease = current();
    if (!lease) {
      waitingKeys.push(none ? NONE_KEY : "enter");
      showWaitingKeys();
      return;
    }
    spanState();
    if (!none && !span.list.length) {
      showStatus('No spans are marked. If the text names no entities, press "." (No entities).', "hint");
      return;
    }
    const body = new URLSearchParams(new FormData($("label-form")));
    body.delete("submit_spans");
    body.delete("no_entities");
    body.delete("spans");
    if (none) body.set("no_entities", "1");
    else {
      // Labels by name: a name always means its label, where an id could read as another's name.
      const labels = spanLabels();
      body.set("spans", span.list.map((item) => `${item.start} ${item.end} ${labels.get(String(item.label)).name}`).join("\n"));
    }
    body.set("client_token", lease.dataset.token);
    body.set("time_spent_ms", String(Math.round(performance.now() - shownAt)));
    queueAnswer(lease, body);
  }

  // One span key (as queued): "left", "shift+right", "delete", "enter", "." or a label's key.
  function spanAct(key) {
    if (!current()) {
      waitingKeys.push(key);
      showWaitingKeys();
      return;
    }
    if (key === "enter") answerSpans(false);
    else if (key === NONE_KEY) answerSpans(true);
    else if (key === "delete") removeAtCursor();
    else if (key.endsWith("left") || key.endsWith("right")) moveCursor(key.endsWith("left") ? -1 : 1, key.startsWith("shift+"));
    else {
      const button = document.querySelector(`#span-form .span-label[data-shortcut="${CSS.escape(key)}"]`);
      if (button) markSpan(button.dataset.labelId);
    }
  }

  function spanKey(event) {
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      return (event.shiftKey ? "shift+" : "") + (event.key === "ArrowLeft" ? "left" : "right");
    }
    if (event.key === "Delete" || event.key === "Backspace") return "delete";
    if (event.key === "Enter") return "enter";
    if (event.key === NONE_KEY) return NONE_KEY;
    const key = event.key.toLowerCase();
    return document.querySelector(`#span-form .span-label[data-shortcut="${CSS.escape(key)}"]`) ? key : "";
  }

  function setUpSpans() {
    if (!isSpans()) return;
    // With this script the spans are marked on the text; the offsets box is the no-JavaScript form.
    if ($("span-offsets")) $("span-offsets").hidden = true;
    for (const id of ["span-labels", "span-chosen"]) if ($(id)) $(id).hidden = false;
    span.lease = null;
    showSpans();
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
      if (isSpans()) {
        spanAct(key);
        continue;
      }
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
    setUpSpans();
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
        else if (isSpans()) answerSpans(Boolean(button && button.name === "no_entities"));
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
      setUpSpans();
    }
  });

  document.addEventListener("mouseup", (event) => {
    if (isSpans() && event.button === 0) selectWithMouse(event);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("#span-form .span-label") : null;
    if (button) markSpan(button.dataset.labelId);
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
    if (isSpans() && !event.altKey) {
      const act = spanKey(event);
      if (act) {
        event.preventDefault();
        spanAct(act);
        return;
      }
    }
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
