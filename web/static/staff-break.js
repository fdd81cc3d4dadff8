/* staff-break.js: my counter's break. "Break" asks for how long (the service counts the minutes
 * from its own clock, so a console whose clock is off still sets the right return); "Back" ends
 * it early (a call from the counter ends it too). The wait estimates count on the return, and
 * the counters' list says who is away and until when. */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const MINUTES = [5, 10, 15, 20, 30, 45, 60, 90, 120];

  function breaksPath(end) {
    return "/v1/queues/" + encodeURIComponent(S.state.place.queue_id) + "/breaks" +
      (end ? "/end" : "");
  }

  // The counter's break under way now (or about to start), from the queue's view.
  S.breakOf = function (view, counter) {
    const found = ((view && view.breaks) || []).find(function (b) { return b.counter === counter; });
    return found && Date.parse(found.ends_at) > Date.now() ? found : null;
  };

  // "back at 11:10" in the queue's time zone.
  S.backAt = function (view, found) {
    const format = new Intl.DateTimeFormat(VQ.lang, {
      hour: "2-digit", minute: "2-digit", timeZone: VQ.zoneOf(view && view.timezone) });
    const starts = Date.parse(found.starts_at);
    const key = starts > Date.now() ? "staff.break_planned" : "staff.break_until";
    return VQ.t(key, { from: format.format(new Date(starts)),
      until: format.format(new Date(Date.parse(found.ends_at))) });
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
    S.command("break", breaksPath(false), { counter: counter, minutes: minutes }, function () {
      S.status(VQ.t("staff.break_done", { minutes: minutes }));
    });
  }

  function back() {
    S.command("back", breaksPath(true), { counter: S.state.place.counter }, function () {
      S.status(VQ.t("staff.back_done"));
    });
  }

  S.drawBreak = function (view) {
    const mine = S.breakOf(view, S.state.place.counter);
    $("staff-break").hidden = Boolean(mine);
    $("staff-back").hidden = !mine;
    $("staff-break-note").textContent = mine ? S.backAt(view, mine) : "";
  };

  S.setUpBreaks = function () {
    $("staff-break").addEventListener("click", takeBreak);
    $("staff-back").addEventListener("click", back);
  };
})();
