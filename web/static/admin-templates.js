/* admin-templates.js: the Notification templates section: the tenant's own templates
 * (GET /v1/templates; the product's defaults serve the rest), one made or replaced
 * (PUT /v1/templates: a topic, channel and language, for every queue or one), a preview with
 * sample values (POST /v1/template-previews: the text being written, or the one in use when the
 * body is left empty), and deleting one (DELETE /v1/templates/{id}: the default is used again).
 */
(function () {
  "use strict";

  const A = VQ.admin;
  // notifications/templates.py: the topics, their variables, the channels and languages
  const TICKET_VARIABLES = ["number", "queue_name", "tenant_name", "position", "people_ahead",
    "minutes", "wait_range", "counter", "counter_label", "ticket_url", "feedback_url", "text", "previous_number",
    "return_time", "slot_time", "slot_date"];
  const ALERT_VARIABLES = ["queue_name", "queue_id", "detail", "value", "threshold", "counter",
    "dashboard_url"];
  const SUMMARY_VARIABLES = ["date", "queue_name", "waiting", "served", "no_shows",
    "mean_wait_minutes", "p90_wait_minutes", "dashboard_url"];
  const TOPICS = ["ahead", "eta", "called", "recalled", "returned", "missed", "moved", "served",
    "cancelled", "paused", "resumed", "closed", "announcement", "subscribed",
    "alert:joined_empty_queue", "alert:p90_over_target", "alert:counter_idle",
    "alert:accuracy_degraded", "alert:delivery_failures", "alert:unusual_arrivals",
    "alert:bottleneck", "summary"];
  const CHANNELS = ["email", "sms", "whatsapp", "push", "chat"];
  const LANGUAGES = ["en", "es", "fr", "de"];
  const ui = { message: null, editor: null, list: null, editing: false };

  function t(key, vars) { return VQ.admin.word("templates", key, vars); }

  function topicName(topic) { return VQ.admin.word("topic", topic.replace(":", "_")); }

  function variablesOf(topic) {
    if (topic === "summary") return SUMMARY_VARIABLES;
    return topic.indexOf("alert:") === 0 ? ALERT_VARIABLES : TICKET_VARIABLES;
  }

  function languageName(code) {
    try {
      const name = new Intl.DisplayNames([VQ.lang], { type: "language" }).of(code);
      return name.charAt(0).toLocaleUpperCase(VQ.lang) + name.slice(1);
    } catch (e) { return code; }
  }

  function note(text, tone) {
    ui.message.replaceChildren(VQ.el("p", { class: "notice " + (tone || "ok") }, text));
    ui.message.focus();
  }

  function close() {
    ui.editing = false;
    ui.editor.hidden = true;
    ui.editor.replaceChildren();
  }

  function choices(template, queues) {
    const f = A.f;
    return {
      queue: f.field({ name: "queue_id", type: "select", label: t("queue"), hint: t("queue_hint"),
        value: template.queue_id || "", options: [["", t("every_queue")]].concat(
          queues.map(function (q) { return [q.queue_id, q.name]; })) }),
      topic: f.field({ name: "topic", type: "select", label: t("topic"), value: template.topic,
        options: TOPICS.map(function (x) { return [x, topicName(x)]; }) }),
      channel: f.field({ name: "channel", type: "select", label: t("channel"),
        value: template.channel, options: CHANNELS.map(function (c) {
          return [c, VQ.admin.word("channel", c)];
        }) }),
      language: f.field({ name: "language", type: "select", label: t("language"),
        value: template.language, options: LANGUAGES.map(function (l) {
          return [l, languageName(l)];
        }) }),
    };
  }

  function editor(template) {
    const f = A.f;
    const was = template || { queue_id: null, topic: "called", channel: "sms",
      language: VQ.lang, subject: "", body: "" };
    A.queues(false).catch(function () { return []; }).then(function (queues) {
      const c = choices(was, queues);
      const subject = f.field({ name: "subject", label: t("subject"), value: was.subject,
        attrs: { maxlength: 200, autocomplete: "off" } });
      const body = f.field({ name: "body", type: "textarea", label: t("body"),
        hint: t("body_hint"), value: was.body, attrs: { rows: 6, spellcheck: "true" } });
      const variables = VQ.el("p", { class: "hint variables" });
      const preview = VQ.el("div", { class: "preview", "aria-live": "polite" });
      function sync() {
        subject.wrap.hidden = c.channel.input.value !== "email";
        f.fill(variables, t("variables"), " ", variablesOf(c.topic.input.value)
          .map(function (v, i) { return [i ? ", " : "", VQ.el("code", {}, "{{ " + v + " }}")]; }));
      }
      c.channel.input.addEventListener("change", sync);
      c.topic.input.addEventListener("change", sync);
      sync();
      function read() {
        const out = { topic: c.topic.input.value, channel: c.channel.input.value,
          language: c.language.input.value };
        if (c.queue.input.value) out.queue_id = c.queue.input.value;
        if (body.input.value.trim()) out.body = body.input.value;
        if (out.channel === "email" && subject.input.value.trim()) out.subject = subject.input.value;
        return out;
      }
      const show = VQ.el("button", { type: "button", class: "secondary", "data-action": "preview" },
        t("preview"));
      const form = f.form(f.uid("template"), async function (node) {
        const sent = read();
        const errors = [];
        if (!sent.body) errors.push(["body", t("body_required")]);
        if (sent.channel === "email" && !sent.subject) errors.push(["subject", t("subject_required")]);
        if (f.invalid(node, errors)) return;
        await VQ.api("/v1/templates", { method: "PUT", body: sent });
        close();
        note(t("saved", { topic: topicName(sent.topic) }));
        await load();
      }, f.group({ legend: t("which") }, c.queue.wrap, c.topic.wrap, c.channel.wrap,
        c.language.wrap), subject.wrap, body.wrap, variables,
      f.actions(VQ.el("button", { type: "submit" }, VQ.t("common.save")), show,
        VQ.el("button", { type: "button", class: "secondary", onclick: close },
          VQ.t("common.cancel"))), preview);
      show.addEventListener("click", function () { runPreview(form, read(), preview, show); });
      ui.editing = true;
      const title = VQ.el("h3", { tabindex: "-1", class: "editor-title" },
        template ? t("edit_title", { topic: topicName(was.topic) }) : t("new_title"));
      ui.editor.replaceChildren(f.panel("editor", title, form));
      ui.editor.hidden = false;
      title.focus();
    });
  }

  async function runPreview(form, sent, out, button) {
    A.f.clear(form);
    button.disabled = true;
    try {
      const shown = await VQ.api("/v1/template-previews", { method: "POST", body: sent });
      A.f.fill(out, VQ.el("h4", {}, sent.body ? t("preview_title") : t("preview_in_use")),
        shown.subject ? VQ.el("p", { class: "preview-subject" }, VQ.el("strong", {},
          t("subject") + ": "), shown.subject) : null,
        VQ.el("pre", { class: "preview-text" }, shown.text));
    } catch (problem) {
      out.replaceChildren();
      if (problem instanceof VQ.Problem) A.f.refuse(form, problem);
      else throw problem;
    } finally {
      button.disabled = false;
    }
  }

  async function remove(template) {
    try {
      await VQ.api("/v1/templates/" + encodeURIComponent(template.template_id), { method: "DELETE" });
      note(t("deleted", { topic: topicName(template.topic) }));
      await load();
    } catch (problem) {
      const text = A.problemText(problem);
      if (text !== null) note(text, "bad");
    }
  }

  function actions(template) {
    const label = topicName(template.topic) + " · " + template.channel + " · " + template.language;
    const edit = VQ.el("button", { type: "button", class: "secondary", "data-action": "edit",
      onclick: function () { editor(template); } }, VQ.t("admin.edit"),
    VQ.el("span", { class: "visually-hidden" }, " " + label));
    const off = VQ.el("button", { type: "button", class: "secondary danger-text",
      "data-action": "delete" }, t("delete"), VQ.el("span", { class: "visually-hidden" }, " " + label));
    off.addEventListener("click", function () {
      A.f.confirm(off, t("confirm_delete"), function () { return remove(template); });
    });
    return VQ.el("div", { class: "row actions" }, edit, off);
  }

  function render(templates, queues) {
    const f = A.f;
    if (!templates.length) {
      ui.list.replaceChildren(VQ.el("p", { class: "muted" }, t("empty")));
      return;
    }
    const rows = templates.map(function (x) {
      const queue = x.queue_id ? (queues.find(function (q) { return q.queue_id === x.queue_id; })
        || { name: x.queue_id }).name : t("every_queue");
      const tr = f.row([topicName(x.topic), VQ.admin.word("channel", x.channel),
        languageName(x.language), queue, f.when(x.updated_at), actions(x)]);
      tr.dataset.templateId = x.template_id;
      return tr;
    });
    ui.list.replaceChildren(f.table(t("caption"), [t("col.topic"), t("col.channel"),
      t("col.language"), t("col.queue"), t("col.updated"), t("col.actions")], rows));
  }

  async function load() {
    try {
      const found = await VQ.api("/v1/templates");
      const queues = await A.queues(false).catch(function () { return []; });
      if (!A.f.asking(ui.list)) render(found.templates, queues);
    } catch (problem) {
      if (!A.f.asking(ui.list)) A.fail(ui.list, problem, load);
    }
  }

  function build(body) {
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.editor = VQ.el("div", { class: "editor-slot", hidden: true });
    ui.list = VQ.el("div", { class: "list" }, A.f.loading());
    const toolbar = VQ.el("div", { class: "row toolbar" }, VQ.el("button", { type: "button",
      id: "templates-new", onclick: function () { editor(null); } }, t("new")));
    body.append(toolbar, ui.message, ui.editor, ui.list);
  }

  A.register("templates", {
    permission: "notifications:manage",
    build: build,
    show: function () { if (!ui.editing) load(); },
    reset: function () { ui.editing = false; },
  });
})();
