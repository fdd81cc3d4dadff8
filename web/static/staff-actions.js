/* staff-actions.js: what the staff console does. Every command goes through
 * VQ.api(..., {idempotent: true}): a lost connection shows in the banner and the command is sent
 * again with the same Idempotency-Key when the network is back, so it happens once. Its button
 * says "pending" until it settles; a refusal is shown in words (role=alert).
 * Keyboard: N call next, R recall, S start, C complete, X no-show, ? the list (not while typing;
 * can be switched off, WCAG 2.1.4). */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const el = VQ.el;
  const pending = new Set(); // keys of the commands on their way: "complete", "call-this:<id>"
  const KEYS = { n: "staff-call-next", r: "staff-recall", s: "staff-start", c: "staff-complete",
    x: "staff-no-show" };
  const KEYS_OFF = "vq.staff.keys";
  const MISSED_FOR_MS = 30 * 60 * 1000;
  const DONE = { recall: "staff.done_recall", start: "staff.done_start",
    complete: "staff.done_complete", "no-show": "staff.done_no_show", "return": "staff.done_return" };

  function keyOf(button) {
    const action = button.dataset.action;
    return button.dataset.ticket ? action + ":" + button.dataset.ticket : action;
  }

  // ---- Pending buttons -----------------------------------------------------------------------

  S.markPending = function () {
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      const busy = pending.has(keyOf(button));
      button.classList.toggle("is-pending", busy);
      if (busy) button.setAttribute("aria-busy", "true");
      else button.removeAttribute("aria-busy");
      let tag = button.querySelector(".staff-pending");
      if (busy && !tag) {
        tag = el("span", { class: "staff-pending", text: VQ.t("staff.pending") });
        button.append(tag);
      } else if (!busy && tag) {
        tag.remove();
      }
    });
  };

  function inactive(button) {
    return button.getAttribute("aria-disabled") === "true" || pending.has(keyOf(button));
  }

  // The desk's buttons fit the status of the person at my counter (aria-disabled keeps a
  // focused button focused when it stops fitting).
  S.drawActions = function () {
    const entry = S.atMyCounter();
    const status = entry ? entry.status : null;
    const fits = {
      "staff-call-next": Boolean(S.state.view),
      "staff-recall": status === "called",
      "staff-start": status === "called",
      "staff-complete": status === "called" || status === "serving",
      "staff-no-show": status === "called",
      "staff-transfer-current": Boolean(status),
    };
    Object.keys(fits).forEach(function (id) {
      $(id).setAttribute("aria-disabled", fits[id] ? "false" : "true");
    });
    S.markPending();
  };

  // ---- Sending a command ---------------------------------------------------------------------

  async function command(key, path, body, done) {
    if (pending.has(key)) return null;
    pending.add(key);
    S.markPending();
    const generation = S.state.generation;
    try {
      const answer = await VQ.api(path, { method: "POST", body: body, idempotent: true });
      if (generation !== S.state.generation) return answer;
      S.alert(null);
      if (done) done(answer);
      S.readYourWrite(answer.stream_version, answer.queue_id);
      return answer;
    } catch (problem) {
      if (generation !== S.state.generation) return null;
      if (problem.code === "counter-busy") busy(problem);
      else S.problem(problem);
      return null;
    } finally {
      pending.delete(key);
      S.markPending();
    }
  }
  S.command = command;

  function ticketPath(id, what) {
    return "/v1/tickets/" + encodeURIComponent(id) + "/" + what;
  }

  function said(key, answer) {
    const ticket = answer && answer.ticket;
    S.status(VQ.t(key, { number: ticket ? ticket.number : "", counter: S.counterLabel() }));
  }

  function callNext() {
    // A counter serving several queues: the longest wait among them (staff-multi.js).
    const multi = S.multiCall ? S.multiCall() : null;
    if (multi) return command("call-next", multi.path, multi.body, multi.done);
    const place = S.state.place;
    const body = { counter: place.counter };
    if (place.service_types && place.service_types.length) body.service_types = place.service_types;
    return command("call-next", "/v1/queues/" + place.queue_id + "/call-next", body,
      function (answer) { said("staff.done_called", answer); });
  }

  // One of the commands on a ticket that needs nothing more (recall, start, complete, no-show,
  // return). `key` names the button that shows it pending.
  function onTicket(what, ticket, key) {
    return command(key, ticketPath(ticket.ticket_id, what), undefined, function (answer) {
      said(DONE[what], answer);
      if (what === "no-show") {
        S.state.missed = S.state.missed.filter(function (m) { return m.ticket_id !== ticket.ticket_id; });
        S.state.missed.unshift({ ticket_id: ticket.ticket_id, number: ticket.number, at: Date.now() });
      }
      if (what === "return") forgetMissed(ticket.ticket_id);
    });
  }

  // ---- Counter busy: the previous visit is still open --------------------------------------

  function busy(problem) {
    // The problem names the tickets still at the counter; else what this console sees there.
    let tickets = Array.isArray(problem.body.tickets) ? problem.body.tickets.filter(function (t) {
      return t && t.ticket_id && t.number;
    }) : [];
    if (!tickets.length && current()) tickets = [current()];
    const buttons = tickets.map(function (ticket) {
      const close = function (what) {
        return el("button", { type: "button", class: what === "complete" ? "" : "secondary",
          dataset: { action: "busy-" + what, ticket: ticket.ticket_id },
          onclick: function () { onTicket(what, ticket, "busy-" + what + ":" + ticket.ticket_id); } },
        what === "complete" ? VQ.t("staff.busy_complete", { number: ticket.number })
          : VQ.t("staff.busy_no_show", { number: ticket.number }));
      };
      return el("div", { class: "row staff-busy-actions" },
        close("complete"), ticket.status === "called" ? close("no-show") : null);
    });
    S.alert(problem.text, buttons);
    const first = $("staff-message").querySelector("button");
    if (first) first.focus();
  }

  // ---- Missed (no-shows marked here): back to the line within the grace period -------------

  function forgetMissed(ticketId) {
    S.state.missed = S.state.missed.filter(function (m) { return m.ticket_id !== ticketId; });
    S.drawMissed();
  }

  S.drawMissed = function () {
    const now = Date.now();
    const missed = (S.state.missed || []).filter(function (m) { return now - m.at < MISSED_FOR_MS; });
    $("staff-missed").hidden = missed.length === 0;
    $("staff-missed-list").replaceChildren.apply($("staff-missed-list"), missed.map(function (m) {
      return el("li", { class: "row" },
        el("strong", { text: m.number }),
        el("span", { class: "muted", text: VQ.t("staff.missed_ago", { wait: S.duration((now - m.at) / 1000) }) }),
        el("button", { type: "button", class: "secondary", dataset: { action: "return", ticket: m.ticket_id } },
          VQ.t("staff.return"), el("span", { class: "visually-hidden", text: " " + m.number })));
    }));
    S.markPending();
  };

  // ---- Dialogs: a reason, a class, a queue --------------------------------------------------

  // ask({title, intro, ok, fields: [{name, label, kind: "select"|"text", options, required,
  // hint}]}) -> the values, or null when cancelled.
  function ask(spec) {
    const dialog = $("staff-dialog");
    const opener = document.activeElement;
    $("staff-dialog-title").textContent = spec.title;
    $("staff-dialog-intro").textContent = spec.intro || "";
    $("staff-dialog-ok").textContent = spec.ok;
    $("staff-dialog-error").textContent = "";
    const box = $("staff-dialog-fields");
    box.replaceChildren();
    spec.fields.forEach(function (field) {
      const id = "staff-field-" + field.name;
      const hint = field.hint ? el("p", { class: "hint", id: id + "-hint", text: field.hint }) : null;
      const attrs = { id: id, name: field.name, required: field.required || null,
        "aria-describedby": hint ? id + "-hint" : null };
      const input = field.kind === "select"
        ? el("select", attrs, field.options.map(function (o) {
          return el("option", { value: o.value, selected: o.value === field.value }, o.label);
        }))
        : el("textarea", Object.assign(attrs, { rows: 3, maxlength: 500 }));
      box.append(el("label", { for: id, text: field.label }), input, hint);
    });
    return new Promise(function (resolve) {
      function finish(values) {
        dialog.removeEventListener("close", cancelled);
        $("staff-dialog-form").onsubmit = null;
        if (dialog.open) dialog.close();
        if (opener && document.contains(opener)) opener.focus();
        resolve(values);
      }
      function cancelled() { finish(null); }
      dialog.addEventListener("close", cancelled);
      $("staff-dialog-cancel").onclick = cancelled;
      $("staff-dialog-form").onsubmit = function (event) {
        event.preventDefault();
        const values = {};
        let missing = null;
        spec.fields.forEach(function (field) {
          const value = $("staff-field-" + field.name).value.trim();
          values[field.name] = value || null;
          if (field.required && !value && !missing) missing = field;
        });
        if (missing) {
          $("staff-dialog-error").textContent = VQ.t("staff.required", { field: missing.label });
          $("staff-field-" + missing.name).focus();
          return;
        }
        finish(values);
      };
      dialog.showModal();
      const first = box.querySelector("select, textarea");
      if (first) first.focus();
    });
  }

  S.ask = ask;

  S.closeDialogs = function () {
    ["staff-dialog", "staff-help"].forEach(function (id) { if ($(id).open) $(id).close(); });
  };

  function lineTicket(id) {
    const line = S.state.line;
    return (line && line.tickets.find(function (t) { return t.ticket_id === id; })) || null;
  }

  async function callThis(ticket) {
    const values = await ask({
      title: VQ.t("staff.call_this_title", { number: ticket.number }),
      intro: VQ.t("staff.call_this_intro", { number: ticket.number, counter: S.counterLabel() }),
      ok: VQ.t("staff.call_this"),
      fields: [{ name: "reason", label: VQ.t("staff.reason"), kind: "text", required: true,
        hint: VQ.t("staff.reason_hint") }],
    });
    if (!values) return;
    command("call-this:" + ticket.ticket_id, ticketPath(ticket.ticket_id, "call"),
      { counter: S.state.place.counter, reason: values.reason },
      function (answer) { said("staff.done_called", answer); });
  }

  async function priority(ticket) {
    const classes = (S.state.view ? S.state.view.priority_classes : [])
      .filter(function (c) { return c !== ticket.priority; });
    if (!classes.length) {
      S.alert(VQ.t("staff.no_other_priority"), null, "warn");
      return;
    }
    const values = await ask({
      title: VQ.t("staff.priority_title", { number: ticket.number }),
      intro: VQ.t("staff.priority_intro", { priority: S.priorityName(ticket.priority) }),
      ok: VQ.t("staff.priority_ok"),
      fields: [
        { name: "priority", label: VQ.t("staff.priority_new"), kind: "select", required: true,
          options: classes.map(function (c) { return { value: c, label: S.priorityName(c) }; }) },
        { name: "reason", label: VQ.t("staff.reason"), kind: "text", required: true,
          hint: VQ.t("staff.reason_hint") },
      ],
    });
    if (!values) return;
    command("priority:" + ticket.ticket_id, ticketPath(ticket.ticket_id, "priority"),
      { priority: values.priority, reason: values.reason },
      function (answer) { said("staff.done_priority", answer); });
  }

  async function transfer(ticket, key) {
    const here = ticket.queue_id || S.state.place.queue_id;
    // The queues this person works (a staff member with assignments moves people among those).
    const targets = S.state.queues.filter(function (q) { return q.queue_id !== here; });
    if (!targets.length) {
      S.alert(VQ.t("staff.no_other_queue"), null, "warn");
      return;
    }
    const values = await ask({
      title: VQ.t("staff.transfer_title", { number: ticket.number }),
      ok: VQ.t("staff.transfer_ok"),
      fields: [
        { name: "queue", label: VQ.t("staff.transfer_to"), kind: "select", required: true,
          options: targets.map(function (q) { return { value: q.queue_id, label: q.name }; }) },
        { name: "reason", label: VQ.t("staff.reason_optional"), kind: "text" },
      ],
    });
    if (!values) return;
    const body = { to_queue_id: values.queue };
    if (values.reason) body.reason = values.reason;
    command(key, ticketPath(ticket.ticket_id, "transfer"), body,
      function () { S.status(VQ.t("staff.done_transferred", { number: ticket.number })); });
  }

  // ---- Wiring --------------------------------------------------------------------------------

  function current() {
    const entry = S.atMyCounter();
    return entry ? { ticket_id: entry.ticket_id, number: entry.number, status: entry.status,
      queue_id: entry.queue_id } : null;
  }

  const DESK = {
    "call-next": function () { return callNext(); },
    recall: function (t) { return onTicket("recall", t, "recall"); },
    start: function (t) { return onTicket("start", t, "start"); },
    complete: function (t) { return onTicket("complete", t, "complete"); },
    "no-show": function (t) { return onTicket("no-show", t, "no-show"); },
    transfer: function (t) { return transfer(t, "transfer"); },
  };

  function clicked(event) {
    const button = event.target.closest("button[data-action]");
    if (!button || inactive(button)) return;
    const action = button.dataset.action;
    const id = button.dataset.ticket;
    if (!id) {
      const ticket = current();
      if (action === "call-next" || ticket) DESK[action](ticket);
      return;
    }
    if (action === "return") {
      const missed = S.state.missed.find(function (m) { return m.ticket_id === id; });
      if (missed) onTicket("return", missed, "return:" + id);
      return;
    }
    const ticket = lineTicket(id);
    if (!ticket) return;
    if (action === "call-this") callThis(ticket);
    else if (action === "priority") priority(ticket);
    else if (action === "transfer") transfer(ticket, "transfer:" + id);
  }

  function keysOn() {
    return VQ.store.get(KEYS_OFF) !== "off";
  }

  function typing(target) {
    return Boolean(target && target.closest &&
      target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function openHelp() {
    $("staff-keys-on").checked = keysOn();
    $("staff-help").showModal();
  }

  function keydown(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || $("staff-console").hidden) return;
    if ($("staff-dialog").open || $("staff-help").open) return;
    if (event.key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    const id = KEYS[(event.key || "").toLowerCase()];
    if (!id || !keysOn() || event.repeat) return;
    event.preventDefault();
    if ($(id).getAttribute("aria-disabled") === "true") {
      S.status(S.atMyCounter() ? VQ.t("staff.not_now") : VQ.t("staff.desk_free"));
      return;
    }
    $(id).click();
  }

  S.setUpActions = function () {
    $("staff-console").addEventListener("click", clicked);
    $("staff-help-open").addEventListener("click", openHelp);
    $("staff-keys-on").addEventListener("change", function (event) {
      VQ.store.set(KEYS_OFF, event.target.checked ? null : "off");
      document.body.classList.toggle("staff-keys-off", !event.target.checked);
    });
    document.body.classList.toggle("staff-keys-off", !keysOn());
    document.addEventListener("keydown", keydown);
  };
})();
