/* admin.js: the admin console's shell: sign-in, the header, the side navigation and its sections.
 *
 * Each section is a module (admin-queues.js, admin-people.js, ...) that registers itself:
 *   VQ.admin.register(name, {permission, build(body), show()})
 * `build` runs the first time the section is shown after a sign-in (into its empty body), `show`
 * every time it is shown (to refresh what it lists). A section is offered only to a role that
 * holds its permission (the same table as access/permissions.py); the API refuses the rest with
 * a 403 all the same, which a section shows as a notice, not as a failure.
 *
 * Deep links: /admin#queues, #people... (vq.js reads the fragment once and takes it off the
 * address bar, so the section asked for is read from VQ.fragment, then put back).
 */
(function () {
  "use strict";

  const ORDER = ["queues", "people", "privacy", "keys", "webhooks", "templates", "analytics"];
  // access/permissions.py, as the page was given it: permission -> the roles that hold it.
  const HOLDERS = Object.fromEntries(VQ.config.permissions);
  const modules = {};
  const state = { session: null, current: null, built: {}, queues: null };

  function $(id) { return document.getElementById(id); }

  // The words of a group of keys (roles, statuses...): admin.<group>.<name>. Such keys are
  // named at run time, so each is listed in the catalogues by hand.
  function word(group, name, vars) {
    return VQ.t(["admin", group, name].join("."), vars);
  }

  function askedSection() {
    const fragment = VQ.fragment || {};
    return ORDER.find(function (name) { return fragment[name] === ""; }) || null;
  }
  let asked = askedSection();

  function role() {
    return (state.session && state.session.user && state.session.user.role) || null;
  }

  function may(permission) {
    return (HOLDERS[permission] || []).indexOf(role()) >= 0;
  }

  function allowed() {
    return ORDER.filter(function (name) { return modules[name] && may(modules[name].permission); });
  }

  function register(name, module) { modules[name] = module; }

  // What a person reads about a refusal; a 401 brings the sign-in form back instead (null).
  // A rule's refusal is the queue's rules only where a queue refused (`queueRules`); elsewhere
  // (a webhook's address, a key's scopes, the last administrator) it is said plainly.
  function problemText(problem, queueRules) {
    if (!(problem instanceof VQ.Problem)) problem = new VQ.Problem(0, null);
    if (VQ.signin.refused(problem)) return null;
    if (problem.status === 403) return VQ.t("admin.forbidden");
    const text = problem.code === "rule-violated" && !queueRules ? VQ.t("admin.refused")
      : problem.text;
    return text + (problem.detail ? " (" + problem.detail + ")" : "");
  }

  // A section's own notice: a refusal, or a failure to load (with a retry).
  function fail(box, problem, retry) {
    const text = problemText(problem);
    if (text === null) return;
    const tone = problem && problem.status === 403 ? "warn" : "bad";
    const notice = VQ.el("div", { class: "notice " + tone, role: "alert" }, VQ.el("p", {}, text));
    if (retry && !(problem && problem.status === 403)) {
      notice.append(VQ.el("button", { type: "button", class: "secondary", onclick: retry },
        VQ.t("common.retry")));
    }
    box.replaceChildren(notice);
  }

  function say(text) {
    const status = $("admin-status");
    status.textContent = "";
    setTimeout(function () { status.textContent = text; }, 50);
  }

  // The tenant's queues, shared by the sections that name queues (cached until `fresh`).
  async function queues(fresh) {
    if (!state.queues || fresh) {
      state.queues = (await VQ.api("/v1/queues")).queues;
    }
    return state.queues;
  }
  function forgetQueues() { state.queues = null; }

  // ---- navigation ------------------------------------------------------------------------

  function setMenu(open) {
    const nav = $("admin-nav");
    $("admin-menu").setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("is-open", open);
  }

  function show(name, focus) {
    const names = allowed();
    if (names.indexOf(name) < 0) name = names[0];
    if (!name) return;
    state.current = name;
    ORDER.forEach(function (other) { $(other).hidden = other !== name; });
    document.querySelectorAll("#admin-nav-list a").forEach(function (link) {
      if (link.dataset.section === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    const module = modules[name];
    if (!state.built[name]) {
      state.built[name] = true;
      module.build($(name + "-body"));
    }
    if (module.show) module.show();
    setMenu(false);
    if (focus) $(name + "-title").focus();
  }

  function onHash() {
    if (!state.session) return;
    const name = location.hash.replace(/^#/, "");
    if (ORDER.indexOf(name) >= 0 && name !== state.current) show(name, true);
  }

  // ---- signing in and out ----------------------------------------------------------------

  function header(session) {
    const user = session.user || {};
    $("admin-person").textContent = user.name || user.email || "";
    $("admin-role").textContent = user.role ? word("role", user.role) : "";
    $("admin-signout").replaceChildren(VQ.signin.signOutButton());
    const org = $("admin-org");
    org.replaceChildren(VQ.t("admin.org", { id: session.tenant_id || "" }));
    org.hidden = !session.tenant_id;
    $("admin-who").hidden = false;
    organisation(session);
  }

  // The organisation's name (GET /v1/me), with its id as a smaller line under it (people give
  // the id when they sign in on another device). Until the name is known, or if it cannot be
  // read, the id alone stays.
  async function organisation(session) {
    let org = null;
    try {
      org = (await VQ.api("/v1/me")).organisation;
    } catch (problem) {
      return; // a session that ended brings the sign-in form back through the sections
    }
    if (state.session !== session || !org || !org.name) return; // signed out meanwhile
    const id = VQ.t("admin.org", { id: org.tenant_id });
    $("admin-org").replaceChildren(VQ.el("strong", { class: "admin-org-name" }, org.name),
      VQ.el("br"), VQ.el("small", { class: "admin-org-id" }, id));
    $("admin-org").hidden = false;
  }

  function signedIn(session) {
    VQ.credential = VQ.session.credential;
    state.session = session;
    header(session);
    const names = allowed();
    document.querySelectorAll("#admin-nav-list li").forEach(function (item) {
      item.hidden = names.indexOf(item.dataset.section) < 0;
    });
    $("admin-nav").hidden = !names.length;
    $("admin-menu").hidden = !names.length;
    $("admin-console").hidden = false;
    $("admin-nothing").hidden = names.length > 0;
    const first = asked || location.hash.replace(/^#/, "") || names[0];
    asked = null;
    show(first, true);
  }

  function signedOut() {
    state.session = null;
    state.current = null;
    state.built = {};
    state.queues = null;
    ORDER.forEach(function (name) {
      $(name).hidden = true;
      $(name + "-body").replaceChildren(); // nothing of one person's session stays for the next
      if (modules[name] && modules[name].reset) modules[name].reset();
    });
    $("admin-console").hidden = true;
    $("admin-nav").hidden = true;
    $("admin-menu").hidden = true;
    $("admin-who").hidden = true;
    $("admin-org").hidden = true;
    $("admin-signout").replaceChildren();
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("admin-menu").addEventListener("click", function () {
      setMenu($("admin-menu").getAttribute("aria-expanded") !== "true");
    });
    $("admin-nav").addEventListener("keydown", function (event) {
      if (event.key === "Escape" && $("admin-nav").classList.contains("is-open")) {
        setMenu(false);
        $("admin-menu").focus();
      }
    });
    $("admin-nav-list").addEventListener("click", function (event) {
      const link = event.target.closest("a[data-section]");
      if (link && link.dataset.section === state.current) {
        event.preventDefault();
        show(state.current, true);
      }
    });
    window.addEventListener("hashchange", onHash);
    VQ.signin.require(signedIn, { onSignedOut: signedOut });
  });

  VQ.admin = {
    register: register,
    word: word,
    may: may,
    role: role,
    fail: fail,
    problemText: problemText,
    say: say,
    queues: queues,
    forgetQueues: forgetQueues,
    session: function () { return state.session; },
  };
})();
