/* vq-zone.js: the arithmetic of a queue's time zone, for the pages that count in it (the staff
 * console's bookings, the dashboard); loaded after vq.js by those pages.
 *
 * VQ.zoneOf(tz)                  the zone if this browser knows it, else "UTC" (also for none)
 * VQ.zoneParts(ms, tz)           the calendar parts of an instant in a zone ({year, month, day,
 *                                hour, minute, second} as two-digit strings; never shown)
 * VQ.localMidnight(ms, tz)       the instant the zone's day holding `ms` began
 * VQ.breakOf(view, counter)      the counter's break in a queue's view, unless over by now
 * VQ.breakPlanned(found)         whether that break is still to come (not under way)
 * VQ.clockTime(iso, view)        "11:10": a moment as the queue's clock shows it
 * VQ.backAt(view, counter)       when a counter on a break now is back ("11:10"), else null
 * VQ.atBreakTurn(view, timer, redraw)  `redraw` once when a break of the view begins or ends
 *                                 (no event says so); cancels `timer`, the last call's answer
 */
(function () {
  "use strict";

  const VQ = window.VQ;

  function zoneOf(tz) {
    tz = tz || "UTC";
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
      return tz;
    } catch (e) {
      return "UTC";
    }
  }

  // For arithmetic: never shown, so in one fixed locale.
  function zoneParts(ms, tz) {
    const parts = {};
    const format = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit" });
    format.formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }

  function zoneOffset(ms, tz) { // local wall time minus UTC, in ms
    const p = zoneParts(ms, tz);
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    return wall - Math.floor(ms / 1000) * 1000;
  }

  function localMidnight(ms, tz) {
    const p = zoneParts(ms, tz);
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day);
    const first = wall - zoneOffset(wall, tz);
    return wall - zoneOffset(first, tz); // again: the offset at midnight may differ from noon's
  }

  function breakOf(view, counter) {
    const found = ((view && view.breaks) || []).find(function (b) { return b.counter === counter; });
    return found && VQ.parseTime(found.ends_at) > VQ.now() ? found : null;
  }

  function clockTime(iso, view) {
    return new Intl.DateTimeFormat(VQ.lang, { hour: "numeric", minute: "2-digit",
      timeZone: zoneOf(view && view.timezone) }).format(new Date(VQ.parseTime(iso)));
  }

  // A break still to come (its start ahead), not one under way.
  function breakPlanned(found) {
    return Boolean(found) && VQ.parseTime(found.starts_at) > VQ.now();
  }

  function backAt(view, counter) {
    const found = breakOf(view, counter);
    return found && !breakPlanned(found) ? clockTime(found.ends_at, view) : null;
  }

  function atBreakTurn(view, timer, redraw) {
    clearTimeout(timer);
    const now = VQ.now();
    let soonest = null;
    ((view && view.breaks) || []).forEach(function (b) {
      [b.starts_at, b.ends_at].forEach(function (iso) {
        const at = VQ.parseTime(iso);
        if (at > now && (soonest === null || at < soonest)) soonest = at;
      });
    });
    if (soonest === null) return null;
    // (A break taken "now" may begin a moment ahead of this page's reading of the API's clock:
    // it would read as planned until then.) setTimeout holds at most ~24 days.
    return setTimeout(redraw, Math.min(Math.max(0, VQ.clock.until(soonest)) + 100, 2e9));
  }

  VQ.atBreakTurn = atBreakTurn;
  VQ.breakOf = breakOf;
  VQ.breakPlanned = breakPlanned;
  VQ.backAt = backAt;
  VQ.clockTime = clockTime;
  VQ.zoneOf = zoneOf;
  VQ.zoneParts = zoneParts;
  VQ.localMidnight = localMidnight;
})();
