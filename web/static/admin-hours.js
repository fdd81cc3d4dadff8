/* admin-hours.js: a queue's opening hours, day by day (several intervals a day).
 *
 * VQ.admin.hours(intervals, {unknown}) -> {node, read()}
 *   intervals: [{weekday (0 = Monday), opens "HH:MM", closes "HH:MM" or "24:00"}]
 *   unknown: editing a queue whose hours the API does not show: nothing is sent unless the
 *   person chooses to replace them
 *   read() -> {value: intervals | undefined (unchanged), errors: [[field, message]]}
 */
(function () {
  "use strict";

  const MAX_INTERVALS = 70; // command_api/models.py: opening_hours max_length

  // The weekdays in the page's language, as a sentence has them ("lunes" in Spanish).
  function weekdayNames() {
    const format = new Intl.DateTimeFormat(VQ.lang, { weekday: "long", timeZone: "UTC" });
    // 2024-01-01 was a Monday: weekday 0 in the API.
    return [0, 1, 2, 3, 4, 5, 6].map(function (day) {
      return format.format(new Date(Date.UTC(2024, 0, 1 + day)));
    });
  }

  function capitalised(name) {
    return name.charAt(0).toLocaleUpperCase(VQ.lang) + name.slice(1);
  }

  function minutesOf(hhmm) {
    const match = /^(\d{2}):(\d{2})$/.exec(hhmm || "");
    return match ? Number(match[1]) * 60 + Number(match[2]) : null;
  }

  function interval(day, opens, closes) {
    const f = VQ.admin.f;
    const from = f.field({ name: "opens", label: VQ.t("admin.hours.opens"), type: "time",
      value: opens, attrs: { step: 60 } });
    const shown = closes === "24:00" ? "00:00" : closes;
    const to = f.field({ name: "closes", label: VQ.t("admin.hours.closes"), type: "time",
      value: shown, attrs: { step: 60 } });
    const remove = VQ.el("button", { type: "button", class: "quiet hours-remove" },
      VQ.t("admin.hours.remove"));
    const node = VQ.el("div", { class: "hours-interval", "data-weekday": day }, from.wrap, to.wrap,
      remove);
    return { node: node, remove: remove, opens: from.input, closes: to.input };
  }

  function day(index, name, intervals, changed) {
    const list = VQ.el("div", { class: "hours-list" });
    const closed = VQ.el("p", { class: "muted hours-closed" }, VQ.t("admin.hours.closed_day"));
    const add = VQ.el("button", { type: "button", class: "secondary hours-add" },
      VQ.t("admin.hours.add", { day: name }));
    const rows = [];
    function refresh() {
      closed.hidden = rows.length > 0;
      changed();
    }
    function append(opens, closes, focus) {
      const made = interval(index, opens, closes);
      rows.push(made);
      made.remove.addEventListener("click", function () {
        rows.splice(rows.indexOf(made), 1);
        made.node.remove();
        refresh();
        add.focus();
      });
      made.opens.addEventListener("change", changed);
      made.closes.addEventListener("change", changed);
      list.append(made.node);
      refresh();
      if (focus) made.opens.focus();
    }
    add.addEventListener("click", function () {
      const last = rows[rows.length - 1];
      append(last ? last.closes.value : "09:00", last ? "" : "17:00", true);
    });
    intervals.forEach(function (i) { append(i.opens, i.closes, false); });
    const errorId = VQ.admin.f.uid("hours-error");
    const set = VQ.el("fieldset", { class: "hours-day", "data-field": "opening_hours-" + index,
      "aria-describedby": errorId }, VQ.el("legend", {}, capitalised(name)), list, closed, add,
    VQ.el("p", { class: "field-error", id: errorId }));
    return { node: set, rows: rows, append: append, clear: function () {
      rows.splice(0).forEach(function (r) { r.node.remove(); });
      refresh();
    } };
  }

  function hours(intervals, opts) {
    const f = VQ.admin.f;
    const unknown = Boolean(opts && opts.unknown);
    const names = weekdayNames();
    const summary = VQ.el("p", { class: "hours-summary", "aria-live": "polite" });
    let days = [];
    function changed() {
      const count = days.reduce(function (n, d) { return n + d.rows.length; }, 0);
      summary.textContent = count ? VQ.plural("admin.hours.summary", count)
        : VQ.t("admin.hours.always_open");
    }
    days = names.map(function (name, index) {
      const mine = (intervals || []).filter(function (i) { return i.weekday === index; });
      return day(index, name, mine, function () { if (days.length === 7) changed(); });
    });
    changed();
    const copy = VQ.el("button", { type: "button", class: "secondary" },
      VQ.t("admin.hours.copy_monday"));
    copy.addEventListener("click", function () {
      const monday = days[0].rows.map(function (r) { return [r.opens.value, r.closes.value]; });
      [1, 2, 3, 4].forEach(function (index) {
        days[index].clear();
        monday.forEach(function (pair) { days[index].append(pair[0], pair[1], false); });
      });
      VQ.admin.say(VQ.t("admin.hours.copied"));
    });
    const editor = VQ.el("div", { class: "hours-editor" }, summary,
      VQ.el("div", { class: "hours-days" }, days.map(function (d) { return d.node; })),
      VQ.el("div", { class: "row" }, copy));
    let replace = null;
    if (unknown) {
      replace = f.field({ name: "replace_hours", type: "checkbox",
        label: VQ.t("admin.hours.replace"), hint: VQ.t("admin.hours.replace_hint") });
      editor.hidden = true;
      replace.input.addEventListener("change", function () {
        editor.hidden = !replace.input.checked;
      });
    }
    const node = f.group({ name: "opening_hours", legend: VQ.t("admin.hours.legend"),
      hint: VQ.t("admin.hours.hint"), class: "hours" }, replace && replace.wrap, editor);

    function read() {
      if (replace && !replace.input.checked) return { value: undefined, errors: [] };
      const value = [];
      const errors = [];
      days.forEach(function (d, index) {
        d.rows.forEach(function (r) {
          const opens = r.opens.value;
          const closes = r.closes.value === "00:00" ? "24:00" : r.closes.value;
          const from = minutesOf(opens);
          const to = closes === "24:00" ? 1440 : minutesOf(closes);
          if (from === null || to === null) {
            errors.push(["opening_hours-" + index, VQ.t("admin.hours.incomplete")]);
          } else if (from >= to) {
            errors.push(["opening_hours-" + index, VQ.t("admin.hours.order",
              { opens: opens, closes: r.closes.value })]);
          }
          value.push({ weekday: index, opens: opens, closes: closes });
        });
      });
      if (value.length > MAX_INTERVALS) {
        errors.push(["opening_hours", VQ.t("admin.hours.too_many", { max: MAX_INTERVALS })]);
      }
      return { value: value, errors: errors };
    }
    return { node: node, read: read };
  }

  VQ.admin.hours = hours;
})();
