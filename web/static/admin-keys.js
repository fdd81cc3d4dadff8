/* admin-keys.js: the API keys section: the tenant's keys (GET /v1/keys, never their secrets),
 * a new key (POST /v1/keys: a role, optionally fewer permissions and an expiry), a new secret
 * (POST /v1/keys/{id}/rotate: the one before keeps working a day) and revoking (DELETE).
 * A secret is shown once, right after it is made; for a kiosk or display key, with the ready
 * link to open on that device (the key rides in the fragment, which no server ever sees).
 */
(function () {
  "use strict";

  const A = VQ.admin;
  // access/permissions.py, as the page was given it: the roles, and permission -> the roles
  // that hold it (in the table's order).
  const ROLES = VQ.config.roles;
  const HOLDERS = Object.fromEntries(VQ.config.permissions);
  const DEVICE_PAGES = { kiosk: "/kiosk", display: "/display" };
  const ui = { message: null, secret: null, editor: null, list: null, editing: false };

  function t(key, vars) { return VQ.admin.word("keys", key, vars); }

  function note(text, tone) {
    ui.message.replaceChildren(VQ.el("p", { class: "notice " + (tone || "ok") }, text));
    ui.message.focus();
  }

  function permissionsOf(role) {
    return Object.keys(HOLDERS).filter(function (p) { return HOLDERS[p].indexOf(role) >= 0; });
  }

  // The secret, once: copy it now (and for a device, its link), then it is gone from the page.
  function reveal(key) {
    const f = A.f;
    const title = VQ.el("h3", { tabindex: "-1", class: "editor-title" },
      t("secret_title", { name: key.name }));
    const parts = [title, VQ.el("p", { class: "notice warn" }, t("secret_once")),
      f.copyable(t("secret"), key.secret, null, "key-secret")];
    const page = DEVICE_PAGES[key.role];
    if (page) {
      parts.push(f.copyable(t("device_link." + key.role), location.origin + page + "#key=" +
        encodeURIComponent(key.secret), t("device_link_hint"), "key-link"));
    }
    parts.push(A.f.actions(VQ.el("button", { type: "button", class: "secondary",
      onclick: function () {
        ui.secret.replaceChildren();
        ui.secret.hidden = true;
        const again = document.getElementById("keys-new");
        if (again) again.focus();
      } }, t("secret_done"))));
    ui.secret.replaceChildren(f.panel("secret-panel", parts));
    ui.secret.hidden = false;
    title.focus();
  }

  function close() {
    ui.editing = false;
    ui.editor.hidden = true;
    ui.editor.replaceChildren();
  }

  function scopePicker(role) {
    const f = A.f;
    const set = f.group({ name: "scopes", legend: t("scopes"), hint: t("scopes_hint"),
      class: "checks" });
    let boxes = [];
    function fill(r) {
      boxes.forEach(function (b) { b.wrap.remove(); });
      boxes = permissionsOf(r).map(function (p) {
        const made = f.field({ name: "scope", type: "checkbox", label: VQ.admin.word("perm", p) });
        made.input.value = p;
        return made;
      });
      const error = set.querySelector(":scope > .field-error");
      boxes.forEach(function (b) { set.insertBefore(b.wrap, error); });
    }
    fill(role);
    return {
      node: set,
      fill: fill,
      read: function () {
        const chosen = boxes.filter(function (b) { return b.input.checked; })
          .map(function (b) { return b.input.value; });
        return chosen.length ? chosen : null;
      },
    };
  }

  function create() {
    const f = A.f;
    const name = f.field({ name: "name", label: t("name"), hint: t("name_hint"), required: true,
      attrs: { maxlength: 200, autocomplete: "off" } });
    const role = f.field({ name: "role", type: "select", label: t("role"), value: "kiosk",
      hint: t("role_hint"), options: ROLES.map(function (r) { return [r, VQ.admin.word("role", r)]; }) });
    const scopes = scopePicker("kiosk");
    role.input.addEventListener("change", function () { scopes.fill(role.input.value); });
    const expiry = f.field({ name: "expires_at", type: "datetime-local", label: t("expires"),
      hint: t("expires_hint") });
    const form = f.form(f.uid("key"), async function (node) {
      const body = { name: name.input.value.trim(), role: role.input.value };
      const errors = [];
      if (!body.name) errors.push(["name", t("name_required")]);
      if (expiry.input.value) {
        const moment = new Date(expiry.input.value);
        if (isNaN(moment.getTime()) || moment.getTime() <= VQ.now()) {
          errors.push(["expires_at", t("expires_past")]);
        } else {
          body.expires_at = moment.toISOString();
        }
      }
      if (f.invalid(node, errors)) return;
      const chosen = scopes.read();
      if (chosen) body.scopes = chosen;
      const made = await VQ.api("/v1/keys", { method: "POST", body: body });
      close();
      ui.message.replaceChildren();
      reveal(made);
      await load();
    }, name.wrap, role.wrap, scopes.node, expiry.wrap,
    f.actions(VQ.el("button", { type: "submit" }, t("create")),
      VQ.el("button", { type: "button", class: "secondary", onclick: close },
        VQ.t("common.cancel"))));
    ui.editing = true;
    const title = VQ.el("h3", { tabindex: "-1", class: "editor-title" }, t("new_title"));
    ui.editor.replaceChildren(f.panel("editor", title, form));
    ui.editor.hidden = false;
    title.focus();
  }

  async function rotate(key) {
    try {
      const made = await VQ.api("/v1/keys/" + encodeURIComponent(key.key_id) + "/rotate",
        { method: "POST", body: { overlap_s: 86400 } });
      ui.message.replaceChildren();
      reveal(made);
      await load();
    } catch (problem) {
      const text = A.problemText(problem);
      if (text !== null) note(text, "bad");
    }
  }

  async function revoke(key) {
    try {
      await VQ.api("/v1/keys/" + encodeURIComponent(key.key_id), { method: "DELETE" });
      note(t("revoked", { name: key.name }));
      await load();
    } catch (problem) {
      const text = A.problemText(problem);
      if (text !== null) note(text, "bad");
    }
  }

  function actions(key) {
    const button = function (what, cls) {
      return VQ.el("button", { type: "button", class: cls || "secondary", "data-action": what },
        t("action." + what), VQ.el("span", { class: "visually-hidden" }, " " + key.name));
    };
    const turn = button("rotate");
    turn.addEventListener("click", function () {
      A.f.confirm(turn, t("confirm_rotate", { name: key.name }), function () { return rotate(key); });
    });
    const off = button("revoke", "secondary danger-text");
    off.addEventListener("click", function () {
      A.f.confirm(off, t("confirm_revoke", { name: key.name }), function () { return revoke(key); });
    });
    return VQ.el("div", { class: "row actions" }, turn, off);
  }

  function render(keys) {
    const f = A.f;
    if (!keys.length) {
      ui.list.replaceChildren(VQ.el("p", { class: "muted" }, t("empty")));
      return;
    }
    const rows = keys.map(function (key) {
      const scopes = key.scopes ? key.scopes.map(function (p) { return VQ.admin.word("perm", p); })
        .join(", ") : t("all_of_role");
      const expires = key.expires_at ? (key.expired ? t("expired", { when: f.when(key.expires_at) })
        : f.when(key.expires_at)) : t("never");
      const used = key.last_used_at ? VQ.plural("admin.keys.used", key.use_count,
        { when: f.when(key.last_used_at) }) : t("unused");
      const tr = f.row([VQ.el("strong", {}, key.name), VQ.admin.word("role", key.role), scopes,
        expires, used, actions(key)]);
      tr.dataset.keyId = key.key_id;
      return tr;
    });
    ui.list.replaceChildren(f.table(t("caption"), [t("col.name"), t("col.role"),
      t("col.scopes"), t("col.expires"), t("col.used"), t("col.actions")], rows));
  }

  async function load() {
    try {
      const keys = await VQ.api("/v1/keys");
      if (!A.f.asking(ui.list)) render(keys);
    } catch (problem) {
      if (!A.f.asking(ui.list)) A.fail(ui.list, problem, load);
    }
  }

  function build(body) {
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.secret = VQ.el("div", { class: "secret-slot", hidden: true });
    ui.editor = VQ.el("div", { class: "editor-slot", hidden: true });
    ui.list = VQ.el("div", { class: "list" }, A.f.loading());
    const toolbar = VQ.el("div", { class: "row toolbar" }, VQ.el("button", { type: "button",
      id: "keys-new", onclick: create }, t("new")));
    body.append(toolbar, ui.message, ui.secret, ui.editor, ui.list);
  }

  A.register("keys", {
    permission: "keys:manage",
    build: build,
    show: function () { if (!ui.editing) load(); },
    reset: function () { ui.editing = false; },
  });
})();
