/* staff-queue.js: the day of the queue at my desk, from the console (staff hold queues:operate):
 * pause calling and resume it (people can still join meanwhile), close it to newcomers at the
 * end of the day (those waiting are still called, or sent home: their places cancelled, each told
 * if they asked to be), and open it again. The buttons fit the queue's status as its live view
 * says; a close asks first, since it cannot be taken back for those sent home. */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  // What each status lets the desk do, in the order the buttons stand.
  const FITS = { open: ["pause", "close"], paused: ["resume", "close"], closed: ["open"] };
  const ACTIONS = ["pause", "resume", "open", "close", "send-home"];

  function path(queueId, what) {
    return "/v1/queues/" + encodeURIComponent(queueId) + "/" + what;
  }

  function queueName() {
    const queue = S.queueById(S.state.place.queue_id);
    return queue ? queue.name : "";
  }

  // pause, resume and open: nothing to ask, each is undone by the other.
  const DONE = { pause: "staff.queue_done_pause", resume: "staff.queue_done_resume",
    open: "staff.queue_done_open" };

  function lifecycle(what) {
    const name = queueName();
    S.command("queue-" + what, path(S.state.place.queue_id, what), undefined, function () {
      S.status(VQ.t(DONE[what], { name: name }));
    });
  }

  async function close() {
    const view = S.state.view;
    const waiting = view ? view.waiting : 0;
    const name = queueName();
    const fields = [];
    if (waiting > 0) {
      fields.push({ name: "waiting", label: VQ.plural("staff.close_waiting", waiting),
        kind: "select", value: "keep", required: true, options: [
          { value: "keep", label: VQ.t("staff.close_keep") },
          { value: "home", label: VQ.t("staff.close_home") },
        ] });
    }
    fields.push({ name: "reason", label: VQ.t("staff.reason_optional"), kind: "text",
      hint: VQ.t("staff.close_reason_hint") });
    const values = await S.ask({ title: VQ.t("staff.close_title", { name: name }),
      intro: VQ.t("staff.close_intro"), ok: VQ.t("staff.close_ok"), fields: fields });
    if (!values) return;
    const body = {};
    if (values.reason) body.reason = values.reason;
    if (values.waiting === "home") body.cancel_waiting = true;
    send(body, name);
  }

  // A closed queue with people still waiting: send them home (their places cancelled).
  async function sendHome() {
    const view = S.state.view;
    const name = queueName();
    const values = await S.ask({ title: VQ.t("staff.send_home_title", { name: name }),
      intro: VQ.plural("staff.send_home_intro", view ? view.waiting : 0),
      ok: VQ.t("staff.send_home_ok"), fields: [] });
    if (values) send({ cancel_waiting: true }, name);
  }

  function send(body, name) {
    S.command("queue-close", path(S.state.place.queue_id, "close"), body, function (answer) {
      const home = (answer.event_types || []).filter(function (type) {
        return type === "TicketCancelled";
      }).length;
      S.status(body.cancel_waiting ? VQ.plural("staff.queue_done_home", home, { name: name })
        : VQ.t("staff.queue_done_close", { name: name }));
    });
  }

  S.drawQueueDay = function (view) {
    const fits = view ? FITS[view.status] || [] : [];
    ACTIONS.forEach(function (action) {
      const shown = action === "send-home"
        ? Boolean(view) && view.status === "closed" && view.waiting > 0
        : fits.indexOf(action) >= 0;
      $("staff-queue-" + action).hidden = !shown;
    });
    $("staff-queue-day").hidden = !view;
  };

  S.setUpQueueDay = function () {
    ["pause", "resume", "open"].forEach(function (what) {
      $("staff-queue-" + what).addEventListener("click", function () { lifecycle(what); });
    });
    $("staff-queue-close").addEventListener("click", close);
    $("staff-queue-send-home").addEventListener("click", sendHome);
  };
})();
