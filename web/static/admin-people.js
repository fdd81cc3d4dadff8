/* admin-people.js: the People section: the organisation's people and their roles
 * (GET /v1/users), an invitation (POST /v1/users: an email with a link to choose a password),
 * a person's name, role and queues (PATCH /v1/users/{id}: only what changed), the invitation
 * sent again (POST /v1/users/{id}/invite), deactivating and reactivating (PATCH active false or
 * true: the person is kept), and removing for good (DELETE: the person is erased).
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const ROLES = ["admin", "manager", "staff", "viewer"];
  const LANGUAGES = ["en", "es", "fr", "de"]; // notifications/templates.py LANGUAGES
  const PAGE = 200;
  const ui = { message: null, editor: null, list: null, people: [], next: null, editing: false };

  function t(key, vars) { return VQ.admin.word("people", key, vars); }

  function note(text, tone, extra) {
    ui.message.replaceChildren(VQ.el("div", { class: "notice " + (tone || "ok") },
      VQ.el("p", {}, text), extra || null));
    ui.message.focus();
  }

  function languageName(code) {
    try {
      const name = new Intl.DisplayNames([VQ.lang], { type: "language" }).of(code);
      return name.charAt(0).toLocaleUpperCase(VQ.lang) + name.slice(1);
    } catch (e) { return code; }
  }

  function signInLink() {
    const session = A.session();
    return location.origin + "/staff?org=" + encodeURIComponent(session ? session.tenant_id : "");
  }

  function stateOf(p) {
    if (!p.active) return VQ.el("span", { class: "status status-closed" }, t("state.inactive"));
    if (!p.email_verified) return VQ.el("span", { class: "status status-paused" }, t("state.invited"));
    return VQ.el("span", { class: "status status-open" }, t("state.active"));
  }

  function queueNames(ids, queues) {
    if (ids === null || ids === undefined) return t("every_queue");
    return ids.map(function (id) {
      const found = queues.find(function (q) { return q.queue_id === id; });
      return found ? found.name : id;
    }).join(", ") || t("no_queue");
  }

  // Checkboxes of the queues a staff member serves (none ticked: every queue).
  function queuePicker(queues, chosen) {
    const f = A.f;
    const boxes = queues.map(function (q) {
      const made = f.field({ name: "queue", type: "checkbox", label: q.name,
        value: Array.isArray(chosen) && chosen.indexOf(q.queue_id) >= 0 });
      made.input.value = q.queue_id;
      return made;
    });
    const set = f.group({ name: "queues", legend: t("queues"), hint: t("queues_hint"),
      class: "checks" }, boxes.map(function (b) { return b.wrap; }),
    queues.length ? null : VQ.el("p", { class: "muted" }, t("no_queues_yet")));
    return {
      node: set,
      read: function () {
        const ids = boxes.filter(function (b) { return b.input.checked; })
          .map(function (b) { return b.input.value; });
        return ids.length ? ids : null;
      },
    };
  }

  function roleField(value) {
    return A.f.field({ name: "role", type: "select", label: t("role"), hint: t("role_hint"),
      value: value, options: ROLES.map(function (r) { return [r, VQ.admin.word("role", r)]; }) });
  }

  function close() {
    ui.editing = false;
    ui.editor.hidden = true;
    ui.editor.replaceChildren();
  }

  function open(heading, form) {
    ui.editing = true;
    const title = VQ.el("h3", { tabindex: "-1", class: "editor-title" }, heading);
    ui.editor.replaceChildren(A.f.panel("editor", title, form));
    ui.editor.hidden = false;
    title.focus();
  }

  async function invite() {
    const f = A.f;
    const queues = await A.queues(true).catch(function () { return []; });
    const name = f.field({ name: "name", label: t("name"), required: true,
      attrs: { autocomplete: "off", maxlength: 200 } });
    const email = f.field({ name: "email", type: "email", label: t("email"), required: true,
      attrs: { autocomplete: "off", spellcheck: "false", maxlength: 254 } });
    const role = roleField("staff");
    const language = f.field({ name: "language", type: "select", label: t("language"),
      hint: t("language_hint"), value: VQ.lang,
      options: LANGUAGES.map(function (l) { return [l, languageName(l)]; }) });
    const picker = queuePicker(queues, null);
    role.input.addEventListener("change", function () {
      picker.node.hidden = role.input.value !== "staff";
    });
    const form = f.form(f.uid("invite"), async function (node) {
      const body = { name: name.input.value.trim(), email: email.input.value.trim(),
        role: role.input.value, language: language.input.value };
      const errors = [];
      if (!body.name) errors.push(["name", t("name_required")]);
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(body.email)) errors.push(["email", t("email_invalid")]);
      if (f.invalid(node, errors)) return;
      if (body.role === "staff") body.queues = picker.read();
      const made = await VQ.api("/v1/users", { method: "POST", body: body });
      close();
      const link = f.copyable(t("sign_in_link"), signInLink(), t("sign_in_link_hint"));
      note(made.email_queued ? t("invited", { email: made.email })
        : t("invited_no_mail", { email: made.email }), made.email_queued ? "ok" : "warn", link);
      await load();
    }, name.wrap, email.wrap, role.wrap, language.wrap, picker.node,
    f.actions(VQ.el("button", { type: "submit" }, t("send_invitation")),
      VQ.el("button", { type: "button", class: "secondary", onclick: close },
        VQ.t("common.cancel"))));
    open(t("invite_title"), form);
  }

  async function edit(p) {
    const f = A.f;
    const queues = await A.queues(true).catch(function () { return []; });
    const name = f.field({ name: "name", label: t("name"), value: p.name, required: true,
      attrs: { autocomplete: "off", maxlength: 200 } });
    const role = roleField(p.role);
    const picker = queuePicker(queues, p.queues);
    picker.node.hidden = p.role !== "staff";
    role.input.addEventListener("change", function () {
      picker.node.hidden = role.input.value !== "staff";
    });
    const form = f.form(f.uid("person"), async function (node) {
      const body = {};
      const newName = name.input.value.trim();
      if (!newName) { f.invalid(node, [["name", t("name_required")]]); return; }
      if (newName !== p.name) body.name = newName;
      if (role.input.value !== p.role) body.role = role.input.value;
      const queuesNow = role.input.value === "staff" ? picker.read() : null;
      if (JSON.stringify(queuesNow) !== JSON.stringify(p.queues)) body.queues = queuesNow;
      if (!Object.keys(body).length) { close(); note(t("unchanged"), "warn"); return; }
      await VQ.api("/v1/users/" + encodeURIComponent(p.user_id), { method: "PATCH", body: body });
      close();
      note(t("saved", { name: newName }));
      await load();
    }, name.wrap, VQ.el("p", { class: "hint" }, p.email), role.wrap, picker.node,
    f.actions(VQ.el("button", { type: "submit" }, VQ.t("common.save")),
      VQ.el("button", { type: "button", class: "secondary", onclick: close },
        VQ.t("common.cancel"))));
    open(t("edit_title", { name: p.name }), form);
  }

  async function act(p, what) {
    const path = "/v1/users/" + encodeURIComponent(p.user_id);
    try {
      if (what === "deactivate") await VQ.api(path, { method: "PATCH", body: { active: false } });
      else if (what === "reactivate") await VQ.api(path, { method: "PATCH", body: { active: true } });
      else if (what === "remove") await VQ.api(path, { method: "DELETE" });
      else {
        const sent = await VQ.api(path + "/invite", { method: "POST" });
        if (!sent.email_queued) { note(t("invited_no_mail", { email: p.email }), "warn"); return; }
      }
      note(t("done." + what, { name: p.name }));
      await load();
    } catch (problem) {
      const text = A.problemText(problem);
      if (text !== null) note(text, "bad");
    }
  }

  function actions(p) {
    const self = (A.session().user || {}).user_id === p.user_id;
    const cell = VQ.el("div", { class: "row actions" });
    const button = function (what, cls) {
      return VQ.el("button", { type: "button", class: cls || "secondary", "data-action": what },
        t("action." + what), VQ.el("span", { class: "visually-hidden" }, " " + p.name));
    };
    const editButton = button("edit");
    editButton.addEventListener("click", function () { edit(p); });
    cell.append(editButton);
    if (p.active && !p.email_verified) {
      const again = button("reinvite");
      again.addEventListener("click", function () { act(p, "reinvite"); });
      cell.append(again);
    }
    if (p.active && !self) {
      const off = button("deactivate", "secondary danger-text");
      off.addEventListener("click", function () {
        A.f.confirm(off, t("confirm_deactivate", { name: p.name }), function () {
          return act(p, "deactivate");
        });
      });
      cell.append(off);
    } else if (!p.active) {
      const on = button("reactivate");
      on.addEventListener("click", function () { act(p, "reactivate"); });
      cell.append(on);
    }
    if (!self) { // (removing yourself would end your own session; another admin can)
      const gone = button("remove", "secondary danger-text");
      gone.addEventListener("click", function () {
        A.f.confirm(gone, t("confirm_remove", { name: p.name }), function () {
          return act(p, "remove");
        });
      });
      cell.append(gone);
    }
    return cell;
  }

  function render(queues) {
    const f = A.f;
    const rows = ui.people.map(function (p) {
      const tr = f.row([[VQ.el("strong", {}, p.name), VQ.el("br"),
        VQ.el("span", { class: "muted" }, p.email)], VQ.admin.word("role", p.role),
      p.role === "staff" ? queueNames(p.queues, queues) : t("every_queue"), stateOf(p),
      actions(p)]);
      tr.dataset.email = p.email;
      return tr;
    });
    const more = ui.next ? VQ.el("button", { type: "button", class: "secondary",
      onclick: function () { load(true); } }, t("more")) : null;
    f.fill(ui.list, f.table(t("caption"), [t("col.person"), t("col.role"),
      t("col.queues"), t("col.state"), t("col.actions")], rows), more);
  }

  async function load(more) {
    try {
      const after = more && ui.next ? "&after=" + encodeURIComponent(ui.next) : "";
      const page = await VQ.api("/v1/users?limit=" + PAGE + after);
      ui.people = more ? ui.people.concat(page.users) : page.users;
      ui.next = page.next_after;
      const queues = await A.queues(!more).catch(function () { return []; });
      if (A.f.asking(ui.list)) return; // (deactivate? remove?) its answer reloads the list
      render(queues);
    } catch (problem) {
      if (!A.f.asking(ui.list)) A.fail(ui.list, problem, function () { load(); });
    }
  }

  function build(body) {
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.editor = VQ.el("div", { class: "editor-slot", hidden: true });
    ui.list = VQ.el("div", { class: "list" }, A.f.loading());
    const toolbar = VQ.el("div", { class: "row toolbar" }, VQ.el("button", { type: "button",
      id: "people-invite", onclick: invite }, t("invite")));
    body.append(toolbar, ui.message, ui.editor, ui.list);
  }

  A.register("people", {
    permission: "users:manage",
    build: build,
    show: function () { if (!ui.editing) load(); },
    reset: function () { ui.editing = false; ui.people = []; ui.next = null; },
  });
})();
