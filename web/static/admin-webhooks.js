/* admin-webhooks.js: the Webhooks section: the tenant's endpoints (GET /v1/webhooks/endpoints),
 * a new one (POST: its signing secret is shown then), changes (PATCH: only what changed),
 * disabling one by hand (POST .../disable) and enabling one again (POST .../enable: after a
 * person or the deliveries disabled it), removing (DELETE), a test message
 * (POST .../test), the signing secret (GET .../secret) and a new one (POST .../rotate-secret).
 * The delivery log and replays are admin-deliveries.js.
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const ROOT = "/v1/webhooks/endpoints";
  // notifications_api/models_webhooks.py KNOWN_EVENT_TYPES (names of the API, not words)
  const EVENT_TYPES = ["QueueClosed", "QueueCreated", "QueueOpened", "QueuePaused",
    "QueueReconfigured", "QueueResumed", "ServiceStarted", "TicketCalled", "TicketCancelled",
    "TicketEnqueued", "TicketNoShow", "TicketPriorityChanged", "TicketPromoted", "TicketRecalled",
    "TicketReturned", "TicketServed", "TicketTransferredIn", "TicketTransferredOut",
    "TicketPositionChanged"];
  const ui = { message: null, panel: null, editor: null, list: null, editing: false };

  function t(key, vars) { return VQ.admin.word("webhooks", key, vars); }

  function path(endpoint, tail) {
    return ROOT + "/" + encodeURIComponent(endpoint.endpoint_id) + (tail || "");
  }

  function note(text, tone) {
    ui.message.replaceChildren(VQ.el("p", { class: "notice " + (tone || "ok") }, text));
    ui.message.focus();
  }

  function failed(problem) {
    const text = A.problemText(problem);
    if (text !== null) note(text, problem.status === 403 ? "warn" : "bad");
  }

  // A panel under the toolbar (a secret, the delivery log): one at a time.
  function showPanel(title, parts) {
    const heading = VQ.el("h3", { tabindex: "-1", class: "editor-title" }, title);
    const done = VQ.el("button", { type: "button", class: "secondary", onclick: function () {
      ui.panel.replaceChildren();
      ui.panel.hidden = true;
    } }, VQ.t("common.close"));
    ui.panel.replaceChildren(A.f.panel("webhook-panel", heading, parts, A.f.actions(done)));
    ui.panel.hidden = false;
    heading.focus();
  }

  function showSecret(endpoint, secret, once) {
    showPanel(t("secret_title", { url: endpoint.url }), [
      once ? VQ.el("p", { class: "notice warn" }, t("secret_once")) : null,
      A.f.copyable(t("secret"), secret.secret, t("secret_hint"), "webhook-secret"),
      secret.previous_secret_until ? VQ.el("p", { class: "hint" },
        t("previous_until", { when: A.f.when(secret.previous_secret_until) })) : null,
    ]);
  }

  function eventPicker(chosen) {
    const f = A.f;
    const boxes = EVENT_TYPES.map(function (type) {
      const made = f.field({ name: "event_type", type: "checkbox", label: type,
        value: chosen.indexOf(type) >= 0 });
      made.input.value = type;
      return made;
    });
    return {
      node: f.group({ name: "event_types", legend: t("events"), hint: t("events_hint"),
        class: "checks columns" }, boxes.map(function (b) { return b.wrap; })),
      read: function () {
        return boxes.filter(function (b) { return b.input.checked; })
          .map(function (b) { return b.input.value; });
      },
    };
  }

  function close() {
    ui.editing = false;
    ui.editor.hidden = true;
    ui.editor.replaceChildren();
  }

  function editor(endpoint) {
    const f = A.f;
    const was = endpoint || { url: "", description: "", event_types: [], rate_per_s: 50 };
    const url = f.field({ name: "url", type: "url", label: t("url"), hint: t("url_hint"),
      value: was.url, required: true, attrs: { maxlength: 2000, spellcheck: "false",
        autocomplete: "off" } });
    const description = f.field({ name: "description", label: t("description"),
      value: was.description, attrs: { maxlength: 500, autocomplete: "off" } });
    const events = eventPicker(was.event_types);
    const rate = f.field({ name: "rate_per_s", type: "number", label: t("rate"),
      hint: t("rate_hint"), value: was.rate_per_s, attrs: { min: 1, max: 1000, step: 1 } });
    const form = f.form(f.uid("webhook"), async function (node) {
      const now = { url: url.input.value.trim(), description: description.input.value.trim(),
        event_types: events.read(), rate_per_s: Number(rate.input.value) };
      const errors = [];
      if (!/^https?:\/\/\S+$/.test(now.url)) errors.push(["url", t("url_invalid")]);
      if (!(Number.isInteger(now.rate_per_s) && now.rate_per_s >= 1 && now.rate_per_s <= 1000)) {
        errors.push(["rate_per_s", t("rate_hint")]);
      }
      if (f.invalid(node, errors)) return;
      if (!endpoint) {
        const made = await VQ.api(ROOT, { method: "POST", body: now });
        close();
        note(t("created", { url: made.url }));
        showSecret(made, made, true);
      } else {
        const body = {};
        Object.keys(now).forEach(function (k) {
          if (JSON.stringify(now[k]) !== JSON.stringify(was[k])) body[k] = now[k];
        });
        if (Object.keys(body).length) await VQ.api(path(endpoint), { method: "PATCH", body: body });
        close();
        note(Object.keys(body).length ? t("saved", { url: now.url }) : t("unchanged"),
          Object.keys(body).length ? "ok" : "warn");
      }
      await load();
    }, url.wrap, description.wrap, events.node, rate.wrap,
    f.actions(VQ.el("button", { type: "submit" }, endpoint ? VQ.t("common.save") : t("create")),
      VQ.el("button", { type: "button", class: "secondary", onclick: close },
        VQ.t("common.cancel"))));
    ui.editing = true;
    const title = VQ.el("h3", { tabindex: "-1", class: "editor-title" },
      endpoint ? t("edit_title", { url: endpoint.url }) : t("new_title"));
    ui.editor.replaceChildren(f.panel("editor", title, form));
    ui.editor.hidden = false;
    title.focus();
  }

  async function run(endpoint, what) {
    try {
      if (what === "enable") {
        await VQ.api(path(endpoint, "/enable"), { method: "POST" });
        note(t("enabled", { url: endpoint.url }));
      } else if (what === "disable") {
        await VQ.api(path(endpoint, "/disable"), { method: "POST" });
        note(t("disabled", { url: endpoint.url }));
      } else if (what === "delete") {
        await VQ.api(path(endpoint), { method: "DELETE" });
        note(t("deleted", { url: endpoint.url }));
      } else if (what === "test") {
        const sent = await VQ.api(path(endpoint, "/test"), { method: "POST" });
        note(t("tested", { id: sent.message_id }));
        A.deliveries(endpoint, showPanel);
      } else if (what === "secret") {
        showSecret(endpoint, await VQ.api(path(endpoint, "/secret")), false);
      } else if (what === "rotate") {
        showSecret(endpoint, await VQ.api(path(endpoint, "/rotate-secret"), { method: "POST" }),
          false);
        note(t("rotated"));
      } else if (what === "log") {
        A.deliveries(endpoint, showPanel);
        return;
      }
      await load();
    } catch (problem) {
      failed(problem);
    }
  }

  function actions(endpoint) {
    const cell = VQ.el("div", { class: "row actions" });
    const button = function (what, cls) {
      const made = VQ.el("button", { type: "button", class: cls || "secondary", "data-action": what },
        t("action." + what), VQ.el("span", { class: "visually-hidden" }, " " + endpoint.url));
      cell.append(made);
      return made;
    };
    button("edit").addEventListener("click", function () { editor(endpoint); });
    button("log").addEventListener("click", function () { run(endpoint, "log"); });
    button("test").addEventListener("click", function () { run(endpoint, "test"); });
    button("secret").addEventListener("click", function () { run(endpoint, "secret"); });
    const rotate = button("rotate");
    rotate.addEventListener("click", function () {
      A.f.confirm(rotate, t("confirm_rotate"), function () { return run(endpoint, "rotate"); });
    });
    if (endpoint.disabled_at) {
      button("enable").addEventListener("click", function () { run(endpoint, "enable"); });
    } else {
      const off = button("disable");
      off.addEventListener("click", function () {
        A.f.confirm(off, t("confirm_disable", { url: endpoint.url }), function () {
          return run(endpoint, "disable");
        });
      });
    }
    const remove = button("delete", "secondary danger-text");
    remove.addEventListener("click", function () {
      A.f.confirm(remove, t("confirm_delete", { url: endpoint.url }), function () {
        return run(endpoint, "delete");
      });
    });
    return cell;
  }

  // Why it was disabled: the deliveries' reason as the API gives it, or who did it by hand
  // (POST .../disable records "disabled by user:<id>" or "disabled by key:<id>").
  function whyDisabled(reason) {
    if (!reason) return "";
    const me = (A.session() && A.session().user) || {};
    if (reason === "disabled by user:" + me.user_id) return t("disabled_by_you");
    if (/^disabled by (user|key):/.test(reason)) return t("disabled_by_admin");
    return reason;
  }

  function stateOf(endpoint) {
    const f = A.f;
    if (endpoint.disabled_at) {
      const why = whyDisabled(endpoint.disabled_reason);
      return [VQ.el("span", { class: "status status-closed" }, t("state.disabled")), VQ.el("br"),
        VQ.el("span", { class: "small" }, f.when(endpoint.disabled_at) + (why ? " · " + why : ""))];
    }
    if (endpoint.failing_since) {
      return [VQ.el("span", { class: "status status-paused" }, t("state.failing")), VQ.el("br"),
        VQ.el("span", { class: "small" }, t("failing_since", { when: f.when(endpoint.failing_since) }))];
    }
    return VQ.el("span", { class: "status status-open" }, t("state.active"));
  }

  function render(endpoints) {
    const f = A.f;
    if (!endpoints.length) {
      ui.list.replaceChildren(VQ.el("p", { class: "muted" }, t("empty")));
      return;
    }
    const rows = endpoints.map(function (e) {
      const tr = f.row([[VQ.el("strong", { class: "break" }, e.url), e.description
        ? [VQ.el("br"), VQ.el("span", { class: "muted" }, e.description)] : null],
      e.event_types.length ? e.event_types.join(", ") : t("every_event"),
      t("per_second", { n: e.rate_per_s }), stateOf(e), actions(e)]);
      tr.dataset.endpointId = e.endpoint_id;
      return tr;
    });
    ui.list.replaceChildren(f.table(t("caption"), [t("col.url"), t("col.events"), t("col.rate"),
      t("col.state"), t("col.actions")], rows, "webhooks-table"));
  }

  async function load() {
    try {
      const endpoints = (await VQ.api(ROOT)).endpoints;
      if (!A.f.asking(ui.list)) render(endpoints);
    } catch (problem) {
      if (!A.f.asking(ui.list)) A.fail(ui.list, problem, load);
    }
  }

  function build(body) {
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.panel = VQ.el("div", { class: "panel-slot", hidden: true });
    ui.editor = VQ.el("div", { class: "editor-slot", hidden: true });
    ui.list = VQ.el("div", { class: "list" }, A.f.loading());
    const toolbar = VQ.el("div", { class: "row toolbar" }, VQ.el("button", { type: "button",
      id: "webhooks-new", onclick: function () { editor(null); } }, t("new")));
    body.append(toolbar, ui.message, ui.editor, ui.panel, ui.list);
  }

  A.register("webhooks", {
    permission: "webhooks:manage",
    build: build,
    show: function () { if (!ui.editing) load(); },
    reset: function () { ui.editing = false; },
  });
})();
