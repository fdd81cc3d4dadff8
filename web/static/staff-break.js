/* staff-break.js: my counter's break. "Break" asks when it starts (now, or in so many minutes:
 * a planned break, such as the day's lunch rota) and for how long (the service counts the
 * minutes from its own clock, so a console whose clock is off still sets the right times);
 * "Back" ends it early (a call from the counter ends it too), or drops a planned one ("Cancel
 * the break"). A counter serving several queues takes it in each. The wait estimates count on
 * the break (a planned one too: people who will still be waiting then are told so), and the
 * counters' list says who is away and until when. */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const MINUTES = [5, 10, 15, 20, 30, 45, 60, 90, 120];
  const STARTS = [0, 5, 10, 15, 30, 45, 60, 90, 120, 180, 240];

  function breaksPath(queueId, end) {
    return "/v1/queues/" + encodeURIComponent(queueId) + "/breaks" + (end ? "/end" : "");
  }

  // "on a break, back at 11:10" (or "break 12:00-12:30" when planned), by the queue's clock.
  S.backAt = function (view, found) {
    const key = VQ.breakPlanned(found) ? "staff.break_planned" : "staff.break_until";
    return VQ.t(key, { from: VQ.clockTime(found.starts_at, view),
      until: VQ.clockTime(found.ends_at, view) });
  };

  async function takeBreak() {
    const counter = S.state.place.counter;
    const values = await S.ask({
      title: VQ.t("staff.break_title",
        { counter: VQ.counterLabel(counter, "staff.counter_named") }),
      intro: VQ.t("staff.break_intro"),
      ok: VQ.t("staff.break_go"),
      fields: [
        { name: "starts", label: VQ.t("staff.break_starts"), kind: "select", value: "0",
          required: true, options: STARTS.map(function (m) {
            return { value: String(m),
              label: m ? VQ.t("staff.break_in", { minutes: m }) : VQ.t("staff.break_now") };
          }) },
        { name: "minutes", label: VQ.t("staff.break_minutes"), kind: "select",
          value: "15", required: true, options: MINUTES.map(function (m) {
            return { value: String(m), label: VQ.t("staff.break_for", { minutes: m }) };
          }) },
      ],
    });
    if (!values) return;
    const minutes = Number(values.minutes);
    const starts = Number(values.starts) || 0;
    const body = { counter: counter, minutes: minutes };
    if (starts) body.starts_in_minutes = starts;
    const said = starts ? VQ.t("staff.break_planned_done", { starts: starts, minutes: minutes })
      : VQ.t("staff.break_done", { minutes: minutes });
    // A counter serving several queues (staff-multi.js) takes its break in each of them.
    S.served().forEach(function (queueId, index) {
      S.command("break:" + queueId, breaksPath(queueId, false), body,
        index ? null : function () { S.status(said); });
    });
  }

  function back() {
    const counter = S.state.place.counter;
    const away = S.served().filter(function (queueId, index) {
      return index === 0 || VQ.breakOf(S.viewOf(queueId), counter);
    });
    const first = away.length ? VQ.breakOf(S.viewOf(away[0]), counter) : null;
    const said = VQ.breakPlanned(first) ? VQ.t("staff.break_dropped") : VQ.t("staff.back_done");
    away.forEach(function (queueId, index) {
      S.command("back:" + queueId, breaksPath(queueId, true), { counter: counter },
        index ? null : function () { S.status(said); });
    });
  }

  // The console redraws every 30 s; a break's start and end (mine, or another counter's in the
  // counters' list) redraw it on the moment.
  let turn = null;

  S.drawBreak = function (view) {
    const mine = VQ.breakOf(view, S.state.place.counter);
    turn = VQ.atBreakTurn(view, turn, S.drawView);
    $("staff-break").hidden = Boolean(mine);
    $("staff-back").hidden = !mine;
    // A planned break is not taken yet: the button drops it.
    $("staff-back").textContent = VQ.t(VQ.breakPlanned(mine) ? "staff.break_cancel"
      : "staff.back");
    $("staff-break-note").textContent = mine ? S.backAt(view, mine) : "";
  };

  S.setUpBreaks = function () {
    $("staff-break").addEventListener("click", takeBreak);
    $("staff-back").addEventListener("click", back);
  };
})();
