/* admin-appointments.js: a queue's bookable slots in its settings form (command_api/
 * models_appointments.py AppointmentSettingsIn): a "Takes appointments" checkbox and, ticked,
 * the slot length and five numbers.
 *
 * VQ.admin.appointments(value, {known}) -> {node, read(errors)}
 *   value: the queue's `appointments` (an object, or null: walk-ins only)
 *   known: whether the queue's view showed it (editing); not known, unticked sends nothing
 *   read(errors) -> the object to send, null (no appointments) or undefined (unchanged); the
 *   problems it finds are pushed onto `errors` as [field, message]
 * VQ.admin.appointments.normal(value) -> the same settings with their keys in one order (so the
 *   form can tell whether they changed)
 */
(function () {
  "use strict";

  // The slot lengths that divide a day (1440 minutes), 5 to 240.
  const SLOT_MINUTES = [5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 30, 32, 36, 40, 45, 48, 60, 72, 80,
    90, 96, 120, 144, 160, 180, 240];
  const DEFAULTS = { slot_minutes: 15, per_slot: 1, lead_minutes: 10, early_minutes: 60,
    grace_minutes: 10, horizon_days: 60 };
  const RANGES = { per_slot: [1, 1000], lead_minutes: [0, 1440], early_minutes: [0, 1440],
    grace_minutes: [0, 240], horizon_days: [1, 366] };
  const ORDER = Object.keys(DEFAULTS);

  function normal(value) {
    if (value === null || value === undefined) return value;
    const out = {};
    ORDER.forEach(function (name) {
      out[name] = value[name] === undefined || value[name] === null ? DEFAULTS[name] : value[name];
    });
    return out;
  }

  function labels(name) {
    switch (name) {
      case "per_slot":
        return [VQ.t("admin.queue.appointments.per_slot"),
          VQ.t("admin.queue.appointments.per_slot_hint")];
      case "lead_minutes":
        return [VQ.t("admin.queue.appointments.lead_minutes"),
          VQ.t("admin.queue.appointments.lead_minutes_hint")];
      case "early_minutes":
        return [VQ.t("admin.queue.appointments.early_minutes"),
          VQ.t("admin.queue.appointments.early_minutes_hint")];
      case "grace_minutes":
        return [VQ.t("admin.queue.appointments.grace_minutes"),
          VQ.t("admin.queue.appointments.grace_minutes_hint")];
      default:
        return [VQ.t("admin.queue.appointments.horizon_days"),
          VQ.t("admin.queue.appointments.horizon_days_hint")];
    }
  }

  function appointments(value, opts) {
    const f = VQ.admin.f;
    const known = !opts || opts.known !== false;
    const start = normal(value) || DEFAULTS;
    const on = f.field({ name: "appointments_on", type: "checkbox",
      label: VQ.t("admin.queue.appointments.on"), hint: VQ.t("admin.queue.appointments.on_hint"),
      value: Boolean(value) });
    const fields = {};
    fields.slot_minutes = f.field({ name: "appointments_slot_minutes", type: "select",
      label: VQ.t("admin.queue.appointments.slot_minutes"),
      hint: VQ.t("admin.queue.appointments.slot_minutes_hint"),
      options: SLOT_MINUTES.map(function (m) {
        return [String(m), VQ.t("common.minutes", { n: m })];
      }), value: String(start.slot_minutes) });
    Object.keys(RANGES).forEach(function (name) {
      const words = labels(name);
      fields[name] = f.field({ name: "appointments_" + name, type: "number", label: words[0],
        hint: words[1], value: start[name], attrs: { min: RANGES[name][0], max: RANGES[name][1],
          step: 1, inputmode: "numeric", class: "short" } });
    });
    const details = VQ.el("div", { class: "appointments-settings" },
      ORDER.map(function (name) { return fields[name].wrap; }));
    details.hidden = !on.input.checked;
    on.input.addEventListener("change", function () { details.hidden = !on.input.checked; });
    const node = f.group({ name: "appointments", legend: VQ.t("admin.queue.appointments.legend"),
      class: "appointments" }, on.wrap, details);

    function read(errors) {
      if (!on.input.checked) return known ? null : undefined;
      const out = { slot_minutes: Number(fields.slot_minutes.input.value) };
      Object.keys(RANGES).forEach(function (name) {
        const text = fields[name].input.value.trim();
        const number = Number(text);
        const range = RANGES[name];
        if (text === "" || !Number.isInteger(number) || number < range[0] || number > range[1]) {
          errors.push(["appointments_" + name, VQ.t("admin.queue.appointments.range",
            { min: range[0], max: range[1] })]);
          return;
        }
        out[name] = number;
      });
      return normal(out);
    }

    return { node: node, read: read };
  }

  appointments.normal = normal;
  VQ.admin.appointments = appointments;
})();
