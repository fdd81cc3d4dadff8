/* admin-forms.js: what the admin console's sections build their forms and lists with.
 *
 * VQ.admin.f.field({name, label, type, value, hint, required, options, attrs})  -> {wrap, input}
 *   a labelled control with its hint and its error, both tied to it (aria-describedby)
 * VQ.admin.f.group({name, legend, hint}, ...children)  a fieldset with a legend and an error
 * VQ.admin.f.form(id, onSubmit, ...children)  a form with a problem box; onSubmit(form) may throw
 *   a VQ.Problem: its `errors` go to the fields they name, the rest to the box
 * VQ.admin.f.refuse(form, problem, guess)  the same, by hand (guess: detail -> a field's name)
 * VQ.admin.f.copyable(label, value, hint)  a read-only value with a copy button
 * VQ.admin.f.confirm(button, question, action)  asks again in place before a destructive action
 * VQ.admin.f.asking(list)  a question is being asked in the list: a refresh (or its failure,
 *   a busy moment) does not take it away; its answer reloads the list
 * VQ.admin.f.table(caption, headers, rows), when(iso), list(text), minutes(seconds)
 */
(function () {
  "use strict";

  let sequence = 0;

  function uid(name) {
    sequence += 1;
    return "af-" + String(name).replace(/[^\w-]/g, "-") + "-" + sequence;
  }

  function errorBox(id) {
    return VQ.el("p", { id: id, class: "field-error" });
  }

  function control(o, id) {
    const attrs = Object.assign({ id: id, name: o.name }, o.attrs || {});
    if (o.type === "select") {
      const select = VQ.el("select", attrs, (o.options || []).map(function (option) {
        return VQ.el("option", { value: option[0] }, option[1]);
      }));
      if (o.value !== undefined && o.value !== null) select.value = String(o.value);
      return select;
    }
    if (o.type === "textarea") {
      const area = VQ.el("textarea", Object.assign({ rows: 5 }, attrs));
      area.value = o.value === undefined || o.value === null ? "" : String(o.value);
      return area;
    }
    const input = VQ.el("input", Object.assign({ type: o.type || "text" }, attrs));
    if (o.type === "checkbox") input.checked = Boolean(o.value);
    else if (o.value !== undefined && o.value !== null) input.value = String(o.value);
    return input;
  }

  function field(o) {
    const id = uid(o.name);
    const hintId = o.hint ? id + "-hint" : null;
    const errorId = id + "-error";
    const input = control(o, id);
    if (o.required) input.required = true;
    input.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
    const label = VQ.el("label", { for: id }, o.label);
    const hint = o.hint ? VQ.el("p", { id: hintId, class: "hint" }, o.hint) : null;
    const wrap = o.type === "checkbox"
      ? VQ.el("div", { class: "field check", "data-field": o.name }, input, label, hint,
        errorBox(errorId))
      : VQ.el("div", { class: "field", "data-field": o.name }, label, input, hint,
        errorBox(errorId));
    return { wrap: wrap, input: input };
  }

  function group(o) {
    const id = uid(o.name || "group");
    const hintId = o.hint ? id + "-hint" : null;
    const set = VQ.el("fieldset", {
      class: "group " + (o.class || ""),
      "data-field": o.name || null,
      "aria-describedby": [hintId, id + "-error"].filter(Boolean).join(" "),
    }, VQ.el("legend", {}, o.legend), o.hint ? VQ.el("p", { id: hintId, class: "hint" }, o.hint)
      : null, Array.prototype.slice.call(arguments, 1), errorBox(id + "-error"));
    return set;
  }

  // ---- problems on forms -----------------------------------------------------------------

  function clear(form) {
    form.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) {
      n.removeAttribute("aria-invalid");
    });
    const box = form.querySelector(".form-problem");
    if (box) box.replaceChildren();
  }

  // Mark the field named `name` (its data-field) with `message`; its control, or null.
  function mark(form, name, message) {
    const holder = form.querySelector('[data-field="' + CSS.escape(String(name)) + '"]');
    if (!holder) return null;
    const error = holder.querySelector(":scope > .field-error");
    if (error) error.textContent = error.textContent ? error.textContent + " " + message : message;
    const target = holder.matches("fieldset") ? holder
      : holder.querySelector("input, select, textarea");
    if (target) target.setAttribute("aria-invalid", "true");
    return holder.matches("fieldset")
      ? holder.querySelector("input, select, textarea, button") : target;
  }

  // Each entry of a validation problem's `errors` names its field by `loc`: ["body", name, ...].
  function fieldOf(loc) {
    if (!Array.isArray(loc)) return null;
    const rest = loc[0] === "body" ? loc.slice(1) : loc;
    const parts = rest.filter(function (part) { return typeof part === "string"; });
    return parts.length ? parts[0] : null;
  }

  function refuse(form, problem, guess) {
    clear(form);
    const text = VQ.admin.problemText(problem, form.queueRules);
    if (text === null) return;
    let first = null;
    ((problem && problem.body && problem.body.errors) || []).forEach(function (entry) {
      const name = fieldOf(entry.loc);
      const target = name ? mark(form, name, entry.msg || VQ.t("admin.form.check")) : null;
      first = first || target;
    });
    if (!first && guess && problem && problem.detail) {
      const name = guess(problem.detail);
      if (name) first = mark(form, name, problem.detail);
    }
    const box = form.querySelector(".form-problem");
    box.replaceChildren(VQ.el("p", { class: "notice bad" }, text));
    (first || box).focus();
  }

  // Mark fields before sending (the same checks the API makes); true when there were any.
  function invalid(form, found) {
    clear(form);
    let first = null;
    found.forEach(function (entry) { first = first || mark(form, entry[0], entry[1]); });
    if (!found.length) return false;
    form.querySelector(".form-problem").replaceChildren(
      VQ.el("p", { class: "notice bad" }, VQ.t("problem.validation")));
    if (first) first.focus();
    return true;
  }

  function form(id, onSubmit) {
    const box = VQ.el("div", { class: "form-problem", role: "alert", tabindex: "-1" });
    const node = VQ.el("form", { id: id, class: "admin-form", novalidate: true }, box,
      Array.prototype.slice.call(arguments, 2));
    node.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = event.submitter || node.querySelector('button[type="submit"]');
      if (node.getAttribute("aria-busy") === "true") return;
      node.setAttribute("aria-busy", "true");
      if (button) button.disabled = true;
      try {
        await onSubmit(node, button);
      } catch (problem) {
        if (problem instanceof VQ.Problem) refuse(node, problem, node.guess);
        else throw problem;
      } finally {
        node.removeAttribute("aria-busy");
        if (button) button.disabled = false;
      }
    });
    return node;
  }

  function actions() {
    return VQ.el("div", { class: "row form-actions" }, Array.prototype.slice.call(arguments));
  }

  // ---- values shown once, and destructive actions ----------------------------------------

  async function copy(value, input, button) {
    let done = false;
    try {
      await navigator.clipboard.writeText(value);
      done = true;
    } catch (e) {
      input.select();
      try { done = document.execCommand("copy"); } catch (ignored) { done = false; }
    }
    const text = done ? VQ.t("admin.copied") : VQ.t("admin.copy_by_hand");
    VQ.admin.say(text);
    button.textContent = done ? VQ.t("admin.copied") : VQ.t("admin.copy");
    setTimeout(function () { button.textContent = VQ.t("admin.copy"); }, 2500);
    if (!done) input.select();
  }

  function copyable(label, value, hint, cls) {
    const made = field({ name: "copy", label: label, value: value, hint: hint,
      attrs: { readonly: true, spellcheck: "false", class: "mono" } });
    const button = VQ.el("button", { type: "button", class: "secondary" }, VQ.t("admin.copy"));
    button.setAttribute("aria-describedby", made.input.id);
    button.addEventListener("click", function () { copy(value, made.input, button); });
    made.input.addEventListener("focus", function () { made.input.select(); });
    made.wrap.classList.add("copyable");
    if (cls) made.wrap.classList.add(cls);
    const next = made.input.nextSibling; // (the input moves into the row)
    made.wrap.insertBefore(VQ.el("div", { class: "copy-row" }, made.input, button), next);
    return made.wrap;
  }

  function confirm(button, question, action) {
    const ask = VQ.el("span", { class: "confirm", role: "group" });
    const yes = VQ.el("button", { type: "button", class: "danger" }, VQ.t("common.confirm"));
    const no = VQ.el("button", { type: "button", class: "secondary" }, VQ.t("common.cancel"));
    ask.append(VQ.el("span", { class: "confirm-question" }, question), yes, no);
    ask.setAttribute("aria-label", question);
    function back() {
      ask.remove();
      button.hidden = false;
      button.focus();
    }
    no.addEventListener("click", back);
    yes.addEventListener("click", async function () {
      yes.disabled = true;
      no.disabled = true;
      try {
        await action();
      } finally {
        if (ask.isConnected) back();
      }
    });
    button.hidden = true;
    button.after(ask);
    yes.focus();
  }

  function asking(list) {
    return Boolean(list && list.querySelector(".confirm button.danger:not([disabled])"));
  }

  // ---- lists and values ------------------------------------------------------------------

  // On a narrow screen each row is a card: its cells carry their column's name (CSS shows it).
  function table(caption, headers, rows, cls) {
    rows.forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (typeof headers[i] === "string" && headers[i]) td.dataset.label = headers[i];
      });
    });
    return VQ.el("table", { class: "admin-table " + (cls || "") },
      VQ.el("caption", { class: "visually-hidden" }, caption),
      VQ.el("thead", {}, VQ.el("tr", {}, headers.map(function (h) {
        return VQ.el("th", { scope: "col" }, h);
      }))),
      VQ.el("tbody", {}, rows));
  }

  function row(cells) {
    return VQ.el("tr", {}, cells.map(function (cell) { return VQ.el("td", {}, cell); }));
  }

  const formats = {};
  function when(iso, style) {
    if (!iso) return "–";
    const key = style || "medium";
    if (!formats[key]) {
      formats[key] = new Intl.DateTimeFormat(VQ.lang, key === "time"
        ? { timeStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" });
    }
    const moment = new Date(Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1")));
    return isNaN(moment.getTime()) ? String(iso) : formats[key].format(moment);
  }

  // "a, b,c" -> ["a", "b", "c"] (empty parts dropped).
  function list(text) {
    return String(text || "").split(",").map(function (part) { return part.trim(); })
      .filter(Boolean);
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return VQ.t("admin.seconds", { n: Math.round(seconds) });
    const m = seconds / 60;
    return VQ.t("common.minutes", { n: Number.isInteger(m) || m >= 10 ? Math.round(m)
      : m.toFixed(1) });
  }

  // node.replaceChildren, with lists flattened and null, undefined and false left out.
  function fill(node) {
    const children = Array.prototype.slice.call(arguments, 1).flat(Infinity)
      .filter(function (child) { return child !== null && child !== undefined && child !== false; });
    node.replaceChildren.apply(node, children);
    return node;
  }

  function panel(cls) {
    return VQ.el("div", { class: "panel " + (cls || "") }, Array.prototype.slice.call(arguments, 1));
  }

  function loading() {
    return VQ.el("p", { class: "muted", role: "status" }, VQ.t("common.loading"));
  }

  VQ.admin.f = {
    field: field,
    group: group,
    form: form,
    actions: actions,
    refuse: refuse,
    invalid: invalid,
    clear: clear,
    copyable: copyable,
    confirm: confirm,
    asking: asking,
    table: table,
    row: row,
    when: when,
    list: list,
    minutes: minutes,
    panel: panel,
    fill: fill,
    loading: loading,
    uid: uid,
  };
})();
