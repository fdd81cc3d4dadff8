/* admin-moves.js: moving a queue's line to another queue (POST /v1/queues/{id}/merge, or
 * /split with the service types ticked). Everyone keeps their number and their place in their
 * class; those already called stay at their counters. No type ticked: everyone moves (a merge),
 * and the emptied queue closes to newcomers unless unticked.
 */
(function () {
  "use strict";

  const A = VQ.admin;

  function targets(q, queues) {
    return queues.filter(function (other) {
      return other.queue_id !== q.queue_id && other.status !== "closed";
    });
  }

  function typeChecks(q) {
    return (q.service_types || []).map(function (type) {
      return A.f.field({ name: "type:" + type, type: "checkbox", label: type, value: false });
    });
  }

  async function submit(q, fields, checks) {
    const ticked = checks.filter(function (c) { return c.input.checked; })
      .map(function (c) { return c.input.name.slice("type:".length); });
    const body = { to_queue_id: fields.to.input.value };
    const reason = fields.reason.input.value.trim();
    if (reason) body.reason = reason;
    if (ticked.length) body.service_types = ticked;
    else body.close = fields.close.input.checked;
    const path = "/v1/queues/" + encodeURIComponent(q.queue_id) + (ticked.length ? "/split"
      : "/merge");
    return VQ.api(path, { method: "POST", body: body, idempotent: true });
  }

  /* The form, or a line saying why there is none; `done(answer, target)` after a move. */
  A.moveForm = function (q, queues, done, cancel) {
    const f = A.f;
    const open = targets(q, queues);
    if (!open.length) {
      return VQ.el("p", { class: "notice warn" }, VQ.t("admin.queues.move_none"));
    }
    const fields = {
      to: f.field({ name: "to_queue_id", type: "select", label: VQ.t("admin.queues.move_to"),
        required: true, options: open.map(function (o) { return [o.queue_id, o.name]; }) }),
      close: f.field({ name: "close", type: "checkbox", value: true,
        label: VQ.t("admin.queues.move_close", { name: q.name }) }),
      reason: f.field({ name: "reason", label: VQ.t("admin.queues.move_reason"),
        attrs: { maxlength: 500 } }),
    };
    const checks = typeChecks(q);
    const who = checks.length
      ? f.group({ legend: VQ.t("admin.queues.move_types"), hint: VQ.t("admin.queues.move_types_hint"),
        name: "service_types" }, checks.map(function (c) { return c.wrap; }))
      : null;
    const save = VQ.el("button", { type: "submit" }, VQ.t("admin.queues.move_ok"));
    const back = VQ.el("button", { type: "button", class: "secondary", onclick: cancel },
      VQ.t("common.cancel"));
    return f.form(f.uid("move-form"), async function () {
      const answer = await submit(q, fields, checks);
      const target = open.find(function (o) { return o.queue_id === fields.to.input.value; });
      await done(answer, target);
    }, fields.to.wrap, who, fields.close.wrap, fields.reason.wrap, f.actions(save, back));
  };
})();
