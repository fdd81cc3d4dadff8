/* admin-queues.js: the Queues section: the list (GET /v1/queues), a new queue (POST /v1/queues),
 * a queue's settings (PATCH /v1/queues/{id}: only what changed), and its day: open, pause,
 * resume, close (POST /v1/queues/{id}/open ...), or close and send those still waiting home (the
 * close's `cancel_waiting`); and moving its line to another queue (merge or split,
 * admin-moves.js). After each command the list is read again at the command's stream version,
 * so what it shows includes the change.
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const ui = { body: null, message: null, editor: null, list: null, queues: [], editing: null,
    loading: 0, stilled: [] };
  // The day's commands a queue's status allows (domain/decide.py).
  const NEXT = { open: ["pause", "close"], paused: ["resume", "close"], closed: ["open"] };

  function t(key, vars) { return VQ.admin.word("queues", key, vars); }

  function note(text, tone) {
    ui.message.replaceChildren(VQ.el("p", { class: "notice " + (tone || "ok") }, text));
    ui.message.focus();
  }

  /* While the list is read again its rows are still the old ones: their buttons are off (an Edit
   * pressed then would open the form with the settings from before the change) until the new rows
   * are drawn. */
  function busy(on) {
    ui.loading += on ? 1 : -1;
    if (on && ui.loading === 1) {
      ui.stilled = Array.prototype.filter.call(ui.list.querySelectorAll("button"),
        function (b) { return !b.disabled; });
      ui.stilled.forEach(function (b) { b.disabled = true; });
    } else if (!on && ui.loading === 0) {
      ui.stilled.forEach(function (b) { b.disabled = false; });  // those it turned off only
      ui.stilled = [];
    }
    ui.list.setAttribute("aria-busy", ui.loading > 0 ? "true" : "false");
  }

  /* The list again, once the read side has each written queue's version: `written` is a list of
   * answers ({queue_id, stream_version}); a move writes two queues, and both rows change. */
  async function load(written) {
    busy(true);
    try {
      await Promise.all((written || []).filter(Boolean).map(function (w) {
        return VQ.api("/v1/queues/" + encodeURIComponent(w.queue_id) + "?min_version=" +
          w.stream_version + "&wait=10").catch(function () { /* the list shows what it has */ });
      }));
      ui.queues = await A.queues(true);
      if (!A.f.asking(ui.list)) render(); // (close? send home?) its answer reloads the list
    } catch (problem) {
      if (!A.f.asking(ui.list)) A.fail(ui.list, problem, function () { load(); });
    } finally {
      busy(false);
    }
  }

  function statusOf(q) {
    return VQ.el("span", { class: "status status-" + q.status }, VQ.admin.word("status", q.status));
  }

  function named(label, name) {
    return [label, VQ.el("span", { class: "visually-hidden" }, " " + name)];
  }

  function lifecycleButton(q, action) {
    const button = VQ.el("button", { type: "button", class: action === "close" ? "secondary danger-text"
      : "secondary", "data-action": action }, named(t("action." + action), q.name));
    button.addEventListener("click", function () {
      const run = function () { return lifecycle(q, action); };
      if (action === "close") A.f.confirm(button, t("confirm_close", { name: q.name }), run);
      else run();
    });
    return button;
  }

  /* The end of a day that cannot serve everyone: those waiting are cancelled (and told, by the
   * notifications they asked for), then the queue closes; those called stay at their counters. */
  function sendHomeButton(q) {
    const button = VQ.el("button", { type: "button", class: "secondary danger-text",
      "data-action": "send-home" }, named(t("action.send_home"), q.name));
    button.addEventListener("click", function () {
      A.f.confirm(button, VQ.plural("admin.queues.confirm_send_home", q.waiting, { name: q.name }),
        function () { return lifecycle(q, "close", { cancel_waiting: true }); });
    });
    return button;
  }

  function actions(q) {
    const cell = VQ.el("div", { class: "row actions" });
    if (A.may("queues:manage")) {
      cell.append(VQ.el("button", { type: "button", class: "secondary", "data-action": "edit",
        onclick: function () { edit(q); } }, named(VQ.t("admin.edit"), q.name)));
      cell.append(VQ.el("button", { type: "button", class: "secondary", "data-action": "copy",
        onclick: function () { edit(null, copyOf(q)); } },
        named(VQ.t("admin.queues.action.copy"), q.name)));
    }
    if (A.may("queues:operate")) {
      (NEXT[q.status] || []).forEach(function (action) { cell.append(lifecycleButton(q, action)); });
    }
    if (A.may("queues:operate") && A.may("tickets:operate") && q.waiting > 0) {
      cell.append(sendHomeButton(q));
    }
    if (A.may("queues:manage") && q.waiting > 0) {
      cell.append(VQ.el("button", { type: "button", class: "secondary", "data-action": "move",
        onclick: function () { move(q); } }, named(VQ.t("admin.queues.action.move"), q.name)));
    }
    return cell;
  }

  function render() {
    const f = A.f;
    if (!ui.queues.length) {
      ui.list.replaceChildren(VQ.el("p", { class: "muted" }, t("empty")));
      return;
    }
    const rows = ui.queues.map(function (q) {
      const tr = f.row([
        [VQ.el("strong", {}, q.name), " ", VQ.el("span", { class: "muted" }, "(" + q.prefix + ")"),
          VQ.el("br"), VQ.el("code", { class: "muted small" }, q.queue_id)],
        statusOf(q),
        String(q.waiting),
        (q.counters || []).join(", "),
        q.capacity === null || q.capacity === undefined ? t("unbounded") : String(q.capacity),
        actions(q),
      ]);
      tr.dataset.queueId = q.queue_id;
      return tr;
    });
    ui.list.replaceChildren(f.table(t("caption"), [t("col.name"), t("col.status"),
      t("col.waiting"), t("col.counters"), t("col.capacity"), t("col.actions")], rows));
  }

  async function lifecycle(q, action, body) {
    try {
      const out = await VQ.api("/v1/queues/" + encodeURIComponent(q.queue_id) + "/" + action,
        { method: "POST", idempotent: true, body: body });
      const home = out.event_types.filter(function (e) { return e === "TicketCancelled"; }).length;
      note(body && body.cancel_waiting
        ? VQ.plural("admin.queues.done.send_home", home, { name: q.name })
        : t("done." + action, { name: q.name }));
      await load([out]);
    } catch (problem) {
      const text = A.problemText(problem, true);
      if (text !== null) note(text, problem.status === 403 ? "warn" : "bad");
    }
  }

  function close(focusNew) {
    ui.editing = null;
    ui.editor.hidden = true;
    ui.editor.replaceChildren();
    const again = document.getElementById("queues-new");
    if (focusNew && again) again.focus();
  }

  async function save(q, body) {
    if (q && !Object.keys(body).length) {
      close(false);
      note(t("unchanged", { name: q.name }), "warn");
      return;
    }
    const out = q
      ? await VQ.api("/v1/queues/" + encodeURIComponent(q.queue_id),
        { method: "PATCH", body: body, idempotent: true })
      : await VQ.api("/v1/queues", { method: "POST", body: body, idempotent: true });
    close(false);
    note(q ? t("saved", { name: body.name || q.name }) : t("created", { name: body.name }));
    await load([out]);
  }

  function copyOf(q) {
    return Object.assign({}, q, { name: VQ.t("admin.queues.copy_name", { name: q.name }),
      copied: q.name });
  }

  // The templates a new queue may start from (GET /v1/queue-templates), read once.
  async function templates() {
    if (!ui.templates) {
      ui.templates = await VQ.api("/v1/queue-templates").then(function (out) {
        return out.templates;
      }).catch(function () { return []; });
    }
    return ui.templates;
  }

  function startFrom(list, chosen, onPick) {
    const field = A.f.field({ name: "template", type: "select",
      label: VQ.t("admin.queues.start_from"), hint: VQ.t("admin.queues.start_from_hint"),
      value: chosen || "", options: [["", VQ.t("admin.queues.start_blank")]].concat(
        list.map(function (x) { return [x.template_id, x.name + " — " + x.description]; })) });
    field.input.addEventListener("change", function () { onPick(field.input.value); });
    return field.wrap;
  }

  // A queue's settings (q), or a new queue: blank, from a template, or with the settings of
  // `source` (a copy).
  async function edit(q, source, chosen) {
    ui.editing = q ? q.queue_id : "new";
    const heading = VQ.el("h3", { tabindex: "-1", class: "editor-title" },
      q ? t("edit_title", { name: q.name })
        : source && source.copied ? VQ.t("admin.queues.copy_title", { name: source.copied })
          : t("new_title"));
    const hint = q ? VQ.el("p", { class: "hint" }, t("edit_hint")) : null;
    const list = q || (source && source.copied) ? [] : await templates();
    const pick = list.length ? startFrom(list, chosen, function (id) {
      const found = list.find(function (x) { return x.template_id === id; });
      edit(null, found ? found.settings : null, id);
    }) : null;
    const form = A.queueForm(q, function (body) { return save(q, body); },
      function () { close(true); }, source);
    ui.editor.replaceChildren(A.f.panel("editor", heading, hint, pick, form));
    ui.editor.hidden = false;
    (chosen !== undefined && pick ? pick.querySelector("select") : heading).focus();
  }

  function move(q) {
    ui.editing = q.queue_id;
    const heading = VQ.el("h3", { tabindex: "-1", class: "editor-title" },
      VQ.t("admin.queues.move_title", { name: q.name }));
    const hint = VQ.el("p", { class: "hint" }, VQ.t("admin.queues.move_hint"));
    const form = A.moveForm(q, ui.queues, async function (answer, target) {
      close(false);
      note(VQ.t("admin.queues.done.move", { count: answer.moved, from: q.name,
        to: target ? target.name : "" }));
      await load([answer, answer.target]);
    }, function () { close(false); });
    ui.editor.replaceChildren(A.f.panel("editor", heading, hint, form));
    ui.editor.hidden = false;
    heading.focus();
  }

  function build(body) {
    ui.body = body;
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.editor = VQ.el("div", { class: "editor-slot", hidden: true });
    ui.list = VQ.el("div", { class: "list" }, A.f.loading());
    const toolbar = VQ.el("div", { class: "row toolbar" });
    if (A.may("queues:manage")) {
      toolbar.append(VQ.el("button", { type: "button", id: "queues-new",
        onclick: function () { edit(null); } }, t("new")));
    }
    body.append(toolbar, ui.message, ui.editor, ui.list);
  }

  function show() {
    if (!ui.editing) load();
  }

  A.register("queues", {
    permission: "read",
    build: build,
    show: show,
    reset: function () { ui.editing = null; ui.queues = []; },
  });
})();
