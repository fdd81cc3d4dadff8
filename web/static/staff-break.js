/* staff-break.js: my counter's break. "Break" asks for how long (the service counts the minutes
 * from its own clock, so a console whose clock is off still sets the right return); "Back" ends
 * it early (a call from the counter ends it too). A counter serving several queues takes it in
 * each. The wait estimates count on the return, and the counters' list says who is away and
 * until when. */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const MINUTES = [5, 10, 15, 20, 30, 45, 60, 90, 120];

  function breaksPath(queueId, end) {
    return "/v1/queues/" + encodeURIComponent(queueId) + "/breaks" + (end ? "/end" : "");
  }

  // "on a break, back at 11:10" (or "break 12:00-12:30" when planned), by the queue's clock.
  S.backAt = function (view, found) {
    const key = Date.parse(found.starts_at) > Date.now() ? "staff.break_planned"
      : "staff.break_until";
    return VQ.t(key, { from: VQ.clockTime(found.starts_at, view),
      until: VQ.clockTime(found.ends_at, view) });
  };

  async function takeBreak() {
    const counter = S.state.place.counter;
    const values = await S.ask({
      title: VQ.t("staff.break_title", { counter: counter }),
      intro: VQ.t("staff.break_intro"),
      ok: VQ.t("staff.break_go"),
      fields: [{ name: "minutes", label: VQ.t("staff.break_minutes"), kind: "select",
        value: "15", required: true, options: MINUTES.map(function (m) {
          return { value: String(m), label: VQ.t("staff.break_for", { minutes: m }) };
        }) }],
    });
    if (!values) return;
    const minutes = Number(values.minutes);
    // A counter serving several queues (staff-multi.js) takes its break in each of them.
    S.served().forEach(function (queueId, index) {
      S.command("break:" + queueId, breaksPath(queueId, false),
        { counter: counter, minutes: minutes }, index ? null : function () {
          S.status(VQ.t("staff.break_done", { minutes: minutes }));
        });
    });
  }

  function back() {
    const counter = S.state.place.counter;
    const away = S.served().filter(function (queueId, index) {
      return index === 0 || VQ.breakOf(S.viewOf(queueId), counter);
    });
    away.forEach(function (queueId, index) {
      S.command("back:" + queueId, breaksPath(queueId, true), { counter: counter },
        index ? null : function () { S.status(VQ.t("staff.back_done")); });
    });
  }

  S.drawBreak = function (view) {
    const mine = VQ.breakOf(view, S.state.place.counter);
    $("staff-break").hidden = Boolean(mine);
    $("staff-back").hidden = !mine;
    $("staff-break-note").textContent = mine ? S.backAt(view, mine) : "";
  };

  S.setUpBreaks = function () {
    $("staff-break").addEventListener("click", takeBreak);
    $("staff-back").addEventListener("click", back);
  };
})();
