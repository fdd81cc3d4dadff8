/* staff-queue.js: the day of the queue at my desk, from the console (staff hold queues:operate):
 * pause calling and resume it (people can still join meanwhile), close it to newcomers at the
 * end of the day (those waiting are still called, or sent home: their places cancelled, each told
 * if they asked to be), and open it again. The buttons fit the queue's status as its live view
 * says; a close asks first, since it cannot be taken back for those sent home.
 *
 * A counter serving several queues (staff-multi.js): closing, sending home and opening ask
 * whether for the desk's queue only or for every one of this counter's queues it fits (each its
 * own command, the desk's queue first). Pausing stays the desk's queue's: a queue's pause holds
 * every counter that serves it, and a counter's own pause is its break (staff-break.js). */
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
    return S.nameOf(S.state.place.queue_id);
  }

  // This counter's queues (the desk's first) whose view `fits`: id, name, waiting. None fitting
  // (a view changed since the button was drawn): the desk's queue, and the API answers.
  function reach(fits) {
    const found = S.served().map(function (id) {
      const view = S.viewOf(id);
      return view && fits(view) ? { id: id, name: S.nameOf(id), waiting: view.waiting } : null;
    }).filter(Boolean);
    const desk = S.state.place.queue_id;
    return found.length ? found : [{ id: desk, name: queueName(), waiting: 0 }];
  }

  function waitingIn(queues) {
    return queues.reduce(function (sum, q) { return sum + q.waiting; }, 0);
  }

  // The dialog's "Which queues" field when more than one fits; `counted`: with those waiting.
  function which(queues, allKey, counted) {
    const label = function (key, vars, waiting) {
      return VQ.t(key, vars) + (counted ? " (" + VQ.plural("staff.multi_waiting", waiting) + ")" : "");
    };
    return { name: "which", label: VQ.t("staff.which_queues"), kind: "select", value: "one",
      required: true, options: [
        { value: "one", label: label("staff.only", { name: queues[0].name }, queues[0].waiting) },
        { value: "all", label: label(allKey, { count: queues.length,
          names: S.listed(queues.map(function (q) { return q.name; })) }, waitingIn(queues)) },
      ] };
  }

  function chosen(queues, values) {
    return values.which === "all" ? queues : queues.slice(0, 1);
  }

  // pause and resume: nothing to ask, each is undone by the other.
  const DONE = { pause: "staff.queue_done_pause", resume: "staff.queue_done_resume" };

  function lifecycle(what) {
    const name = queueName();
    S.command("queue-" + what, path(S.state.place.queue_id, what), undefined, function () {
      S.status(VQ.t(DONE[what], { name: name }));
    });
  }

  // Each queue's command in turn; on the first refusal (shown by S.command) the rest are not
  // sent. `said(names, answers)`: the status once all went through.
  async function each(queues, what, body, said) {
    const answers = [];
    for (const queue of queues) {
      const answer = await S.command("queue-" + what, path(queue.id, what), body);
      if (!answer) return;
      answers.push(answer);
    }
    const names = queues.map(function (q) { return q.name; });
    said(S.listed(names), names.length > 1, answers);  // one name: listed as itself
  }

  async function open() {
    const closed = reach(function (view) { return view.status === "closed"; });
    let queues = closed.slice(0, 1);
    if (closed.length > 1) {
      const values = await S.ask({ title: VQ.t("staff.open_title_multi"),
        ok: VQ.t("staff.open_ok"), fields: [which(closed, "staff.open_all", false)] });
      if (!values) return;
      queues = chosen(closed, values);
    }
    each(queues, "open", undefined, function (names, several) {
      S.status(VQ.t(several ? "staff.queues_done_open" : "staff.queue_done_open", { name: names }));
    });
  }

  async function close() {
    const closable = reach(function (view) { return view.status !== "closed"; });
    const several = closable.length > 1;
    const waiting = waitingIn(closable);
    const fields = several ? [which(closable, "staff.close_all", true)] : [];
    if (waiting > 0) {
      fields.push({ name: "waiting", kind: "select", value: "keep", required: true,
        label: several ? VQ.t("staff.close_waiting_any") : VQ.plural("staff.close_waiting", waiting),
        options: [
          { value: "keep", label: VQ.t("staff.close_keep") },
          { value: "home", label: VQ.t("staff.close_home") },
        ] });
    }
    fields.push({ name: "reason", label: VQ.t("staff.reason_optional"), kind: "text",
      hint: VQ.t("staff.close_reason_hint") });
    const values = await S.ask({ fields: fields,
      intro: VQ.t(several ? "staff.close_intro_multi" : "staff.close_intro"),
      title: several ? VQ.t("staff.close_title_multi") : VQ.t("staff.close_title", { name: queueName() }),
      ok: VQ.t("staff.close_ok") });
    if (!values) return;
    const body = {};
    if (values.reason) body.reason = values.reason;
    if (values.waiting === "home") body.cancel_waiting = true;
    send(chosen(closable, values), body);
  }

  // Closed queues with people still waiting: send them home (their places cancelled).
  async function sendHome() {
    const closed = reach(function (view) { return view.status === "closed" && view.waiting > 0; });
    const several = closed.length > 1;
    const values = await S.ask({
      title: several ? VQ.t("staff.send_home_title_multi")
        : VQ.t("staff.send_home_title", { name: queueName() }),
      intro: several ? VQ.t("staff.send_home_intro_any")
        : VQ.plural("staff.send_home_intro", closed[0].waiting),
      ok: VQ.t("staff.send_home_ok"),
      fields: several ? [which(closed, "staff.close_all", true)] : [] });
    if (values) send(chosen(closed, values), { cancel_waiting: true });
  }

  function send(queues, body) {
    each(queues, "close", body, function (names, several, answers) {
      const home = answers.reduce(function (sum, answer) {
        return sum + (answer.event_types || []).filter(function (type) {
          return type === "TicketCancelled";
        }).length;
      }, 0);
      if (body.cancel_waiting) {
        S.status(VQ.plural(several ? "staff.queues_done_home" : "staff.queue_done_home", home,
          { name: names }));
      } else {
        S.status(VQ.t(several ? "staff.queues_done_close" : "staff.queue_done_close", { name: names }));
      }
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
    ["pause", "resume"].forEach(function (what) {
      $("staff-queue-" + what).addEventListener("click", function () { lifecycle(what); });
    });
    $("staff-queue-open").addEventListener("click", open);
    $("staff-queue-close").addEventListener("click", close);
    $("staff-queue-send-home").addEventListener("click", sendHome);
  };
})();
