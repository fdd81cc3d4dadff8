/* admin-queue-form.js: the form of a queue's settings (command_api/models.py QueueSettingsIn;
 * the rules in domain/validate.py).
 *
 * VQ.admin.queueForm(queue, onSave, onCancel, source) -> form element (source: a queue to copy)
 *   queue: the queue's view (GET /v1/queues/{id}) to edit, or null for a new queue
 *   onSave(body, form): called with the body to send: for a new queue every setting; for an
 *   edit only the settings the person changed (the API's PATCH changes only what it is given).
 * A setting the queue's view does not show (its hours, policies...) starts as "unchanged" when
 * editing: nothing is sent for it unless the person sets it.
 */
(function () {
  "use strict";

  const KEEP = "__keep";
  const DEFAULTS = {
    prefix: "A", counters: ["1"], service_types: [], capacity: null,
    priority_classes: ["emergency", "urgent", "vip", "normal"], default_priority: "normal",
    timezone: "UTC", opening_hours: [], allow_outside_hours: false, aging_after_seconds: null,
    aging_max_priority: null, no_show_grace_seconds: 600, transfer_policy: "keep_enqueue_time",
    busy_counter_policy: "refuse", target_wait_seconds: 900, mean_service_seconds: 300,
    site: null, appointments: null,
  };
  // Settings whose "nothing" (null) is a value of its own: unbounded, no aging, the default.
  const NULLABLE = ["capacity", "aging_after_seconds", "aging_max_priority", "site"];
  const MINUTES = {
    aging_after_seconds: [1, 7 * 1440], target_wait_seconds: [1, 7 * 1440],
    mean_service_seconds: [1, 1440], no_show_grace_seconds: [0, 1440],
  };

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) {
      return "UTC";
    }
  }

  function zones() {
    try { return Intl.supportedValuesOf("timeZone"); } catch (e) { return ["UTC"]; }
  }

  // The starting values, and which of them are really the queue's (known) when editing.
  // A new queue starts from the defaults, or from the settings of `source` (a copy, a template).
  function initial(queue, source) {
    const values = Object.assign({}, DEFAULTS, { name: "", timezone: browserZone() });
    const known = {};
    if (!queue) {
      Object.keys(values).forEach(function (name) {
        known[name] = true;
        if (source && source[name] !== null && source[name] !== undefined) {
          values[name] = source[name];
        }
      });
      values.appointments = VQ.admin.appointments.normal(values.appointments);
      return { values: values, known: known };
    }
    Object.keys(values).forEach(function (name) {
      known[name] = Object.prototype.hasOwnProperty.call(queue, name);
      values[name] = known[name] ? queue[name] : undefined;
    });
    values.appointments = VQ.admin.appointments.normal(values.appointments);
    return { values: values, known: known };
  }

  function choice(name, options, start, known) {
    const list = options.map(function (o) { return [o, VQ.admin.word("queue", name + "." + o)]; });
    if (!known) list.unshift([KEEP, VQ.t("admin.queue.unchanged")]);
    return VQ.admin.f.field({ name: name, type: "select", options: list,
      label: VQ.admin.word("queue", name), hint: VQ.admin.word("queue", name + "_hint"),
      value: known ? start : KEEP });
  }

  function minutesField(name, seconds, known) {
    const range = MINUTES[name];
    // A usual service time of 0 is "not set" (domain/config.py): shown empty, sent only if set.
    if (name === "mean_service_seconds" && seconds === 0) seconds = null;
    return VQ.admin.f.field({ name: name, type: "number", label: VQ.admin.word("queue", name),
      hint: VQ.admin.word("queue", name + "_hint"),
      value: known && seconds !== null && seconds !== undefined
        ? Math.round(seconds / 6) / 10 : "",
      attrs: { min: range[0], max: range[1], step: "any", inputmode: "decimal",
        placeholder: known ? null : VQ.t("admin.queue.unchanged") } });
  }

  function classOptions(classes, nullable, known) {
    const options = classes.map(function (c) { return [c, c]; });
    if (nullable) options.unshift(["", VQ.t("admin.queue.aging_max_default")]);
    if (!known) options.unshift([KEEP, VQ.t("admin.queue.unchanged")]);
    return options;
  }

  function syncClasses(select, classes, nullable, known) {
    const before = select.value;
    select.replaceChildren.apply(select, classOptions(classes, nullable, known).map(function (o) {
      return VQ.el("option", { value: o[0] }, o[1]);
    }));
    select.value = Array.prototype.some.call(select.options, function (o) {
      return o.value === before;
    }) ? before : select.options[0].value;
  }

  function build(start) {
    const f = VQ.admin.f;
    const v = start.values;
    const k = start.known;
    const t = function (key) { return VQ.admin.word("queue", key); };
    const c = {};
    c.name = f.field({ name: "name", label: t("name"), value: v.name, required: true,
      attrs: { maxlength: 200, autocomplete: "off" } });
    // No maxlength: a sixth character is kept and said to be one too many when saving (read),
    // rather than dropped without a word.
    c.prefix = f.field({ name: "prefix", label: t("prefix"), hint: t("prefix_hint"), value: v.prefix,
      attrs: { autocomplete: "off", spellcheck: "false", class: "short" } });
    c.site = f.field({ name: "site", label: t("site"), hint: t("site_hint"), value: v.site,
      attrs: { maxlength: 50, autocomplete: "off" } });
    c.counters = f.field({ name: "counters", label: t("counters"), hint: t("counters_hint"),
      value: (v.counters || []).join(", "), required: true, attrs: { autocomplete: "off" } });
    c.service_types = f.field({ name: "service_types", label: t("service_types"),
      hint: t("service_types_hint"), value: (v.service_types || []).join(", "),
      attrs: { autocomplete: "off" } });
    const zoneList = VQ.el("datalist", { id: f.uid("zones") }, zones().map(function (z) {
      return VQ.el("option", { value: z });
    }));
    c.timezone = f.field({ name: "timezone", label: t("timezone"), hint: t("timezone_hint"),
      value: v.timezone, attrs: { list: zoneList.id, autocomplete: "off", spellcheck: "false" } });
    c.hours = VQ.admin.hours(v.opening_hours || [], { unknown: !k.opening_hours });
    c.allow_outside_hours = choice("allow_outside_hours", ["no", "yes"],
      v.allow_outside_hours ? "yes" : "no", k.allow_outside_hours);
    c.capacity = f.field({ name: "capacity", type: "number", label: t("capacity"),
      hint: t("capacity_hint"), value: v.capacity, attrs: { min: 1, max: 1000000, step: 1 } });
    c.priority_classes = f.field({ name: "priority_classes", label: t("priority_classes"),
      hint: t("priority_classes_hint"), value: (v.priority_classes || []).join(", "),
      attrs: { autocomplete: "off" } });
    const classes = v.priority_classes || DEFAULTS.priority_classes;
    c.default_priority = f.field({ name: "default_priority", type: "select",
      label: t("default_priority"), hint: t("default_priority_hint"),
      options: classOptions(classes, false, k.default_priority),
      value: k.default_priority ? v.default_priority : KEEP });
    c.aging_after_seconds = minutesField("aging_after_seconds", v.aging_after_seconds,
      k.aging_after_seconds);
    c.aging_max_priority = f.field({ name: "aging_max_priority", type: "select",
      label: t("aging_max_priority"), hint: t("aging_max_priority_hint"),
      options: classOptions(classes, true, k.aging_max_priority),
      value: k.aging_max_priority ? (v.aging_max_priority || "") : KEEP });
    ["target_wait_seconds", "mean_service_seconds", "no_show_grace_seconds"].forEach(function (n) {
      c[n] = minutesField(n, v[n], k[n]);
    });
    c.transfer_policy = choice("transfer_policy", ["keep_enqueue_time", "back_of_line"],
      v.transfer_policy, k.transfer_policy);
    c.busy_counter_policy = choice("busy_counter_policy", ["refuse", "close_previous"],
      v.busy_counter_policy, k.busy_counter_policy);
    c.priority_classes.input.addEventListener("input", function () {
      const now = f.list(c.priority_classes.input.value);
      syncClasses(c.default_priority.input, now, false, k.default_priority);
      syncClasses(c.aging_max_priority.input, now, true, k.aging_max_priority);
    });
    c.appointments = VQ.admin.appointments(v.appointments, { known: k.appointments });
    c.zoneList = zoneList;
    return c;
  }

  function layout(c) {
    const f = VQ.admin.f;
    const t = function (key) { return VQ.admin.word("queue", key); };
    return [
      f.group({ legend: t("about") }, c.name.wrap, c.prefix.wrap, c.site.wrap, c.counters.wrap,
        c.service_types.wrap),
      f.group({ legend: t("when") }, c.timezone.wrap, c.zoneList, c.hours.node,
        c.allow_outside_hours.wrap),
      c.appointments.node,
      f.group({ legend: t("line") }, c.capacity.wrap, c.priority_classes.wrap,
        c.default_priority.wrap, c.aging_after_seconds.wrap, c.aging_max_priority.wrap),
      f.group({ legend: t("service") }, c.target_wait_seconds.wrap, c.mean_service_seconds.wrap,
        c.no_show_grace_seconds.wrap),
      f.group({ legend: t("policies") }, c.transfer_policy.wrap, c.busy_counter_policy.wrap),
    ];
  }

  function seconds(c, name, known, errors) {
    const text = c[name].input.value.trim();
    if (text === "") return NULLABLE.indexOf(name) >= 0 && known ? null : undefined;
    const range = MINUTES[name];
    const value = Number(text.replace(",", "."));
    if (!isFinite(value) || value < range[0] || value > range[1]) {
      errors.push([name, VQ.t("admin.queue.minutes_range", { min: range[0], max: range[1] })]);
      return undefined;
    }
    return Math.max(range[0] === 0 ? 0 : 1, Math.round(value * 60));
  }

  function selected(c, name) {
    const value = c[name].input.value;
    return value === KEEP ? undefined : value;
  }

  // Every setting as the form holds it (undefined: left unchanged), and what it finds wrong.
  function read(c, known) {
    const f = VQ.admin.f;
    const t = function (key, vars) { return VQ.admin.word("queue", key, vars); };
    const errors = [];
    const v = {};
    v.name = c.name.input.value.trim();
    if (!v.name) errors.push(["name", t("name_required")]);
    v.prefix = c.prefix.input.value.trim();
    if (v.prefix.length > 5) {
      errors.push(["prefix", t("prefix_too_long", { count: v.prefix.length })]);
    } else if (!/^[A-Za-z0-9]{1,5}$/.test(v.prefix)) {
      errors.push(["prefix", t("prefix_hint")]);
    }
    ["counters", "service_types", "priority_classes"].forEach(function (name) {
      v[name] = f.list(c[name].input.value);
      if (new Set(v[name]).size !== v[name].length) errors.push([name, t("distinct")]);
      if (v[name].some(function (x) { return x.length > 50; })) errors.push([name, t("too_long")]);
    });
    if (!v.counters.length) errors.push(["counters", t("counters_required")]);
    if (!v.priority_classes.length) errors.push(["priority_classes", t("classes_required")]);
    v.timezone = c.timezone.input.value.trim();
    if (!v.timezone) errors.push(["timezone", t("timezone_hint")]);
    const hours = c.hours.read();
    v.opening_hours = hours.value;
    hours.errors.forEach(function (e) { errors.push(e); });
    const outside = selected(c, "allow_outside_hours");
    v.allow_outside_hours = outside === undefined ? undefined : outside === "yes";
    const site = c.site.input.value.trim();
    v.site = site === "" ? (known.site ? null : undefined) : site;
    const capacity = c.capacity.input.value.trim();
    v.capacity = capacity === "" ? (known.capacity ? null : undefined) : Number(capacity);
    if (capacity !== "" && !(Number.isInteger(v.capacity) && v.capacity >= 1)) {
      errors.push(["capacity", t("capacity_hint")]);
    }
    v.default_priority = selected(c, "default_priority");
    const agingMax = selected(c, "aging_max_priority");
    v.aging_max_priority = agingMax === "" ? null : agingMax;
    Object.keys(MINUTES).forEach(function (name) {
      v[name] = seconds(c, name, known[name], errors);
    });
    v.transfer_policy = selected(c, "transfer_policy");
    v.busy_counter_policy = selected(c, "busy_counter_policy");
    v.appointments = c.appointments.read(errors);
    return { values: v, errors: errors };
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  // What to send: a new queue gets every setting given; an edit only what changed.
  function body(values, start, creating) {
    const out = {};
    Object.keys(values).forEach(function (name) {
      const value = values[name];
      if (value === undefined) return;
      if (creating) {
        if (value !== null) out[name] = value;
      } else if (!start.known[name] || !same(value, start.values[name])) {
        out[name] = value;
      }
    });
    return out;
  }

  // A queue's rule (a 409 with a sentence, no field list): the field the sentence is about.
  const RULES = [
    [/opening hours/i, "opening_hours"], [/default priority/i, "default_priority"],
    [/aging max/i, "aging_max_priority"], [/time zone/i, "timezone"], [/prefix/i, "prefix"],
    [/capacity/i, "capacity"], [/counter/i, "counters"], [/priority class/i, "priority_classes"],
    [/slot|appointment|booking/i, "appointments"], [/service type/i, "service_types"],
    [/name/i, "name"], [/busy counter/i, "busy_counter_policy"],
  ];
  function guess(detail) {
    const found = RULES.find(function (rule) { return rule[0].test(detail); });
    return found ? found[1] : null;
  }

  function queueForm(queue, onSave, onCancel, source) {
    const f = VQ.admin.f;
    const start = initial(queue, source);
    const c = build(start);
    const save = VQ.el("button", { type: "submit" }, queue ? VQ.t("common.save")
      : VQ.t("admin.queues.create"));
    const cancel = VQ.el("button", { type: "button", class: "secondary", onclick: onCancel },
      VQ.t("common.cancel"));
    const node = f.form(f.uid("queue-form"), async function (form) {
      const found = read(c, start.known);
      if (f.invalid(form, found.errors)) return;
      const sent = body(found.values, start, !queue);
      await onSave(sent, form);
    }, layout(c), f.actions(save, cancel));
    node.guess = guess;
    node.queueRules = true;
    return node;
  }

  VQ.admin.queueForm = queueForm;
})();
