/* dashboard-format.js: numbers, shares, durations and times for the dashboard, written the page
 * language's way (Intl), and the time of a queue's time zone on the API's clock (VQ.now(), vq.js:
 * it may run faster, or on another day, for simulations); the zone's arithmetic is vq-zone.js's
 * (VQ.zoneOf, VQ.zoneParts, VQ.localMidnight), shared with the staff console.
 *
 * window.VQDashboard.format: num, pct, mins, minutesRange, hhmm, hour, parseTime, apiNow,
 * zoneOf, localMidnight.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = (window.VQDashboard = window.VQDashboard || {});
  const DASH = "–";
  const whole = new Intl.NumberFormat(VQ.lang, { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat(VQ.lang, { maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(VQ.lang, { style: "percent", maximumFractionDigits: 0 });

  function missing(value) {
    return value === null || value === undefined;
  }

  function num(value) {
    return missing(value) ? DASH : whole.format(value);
  }

  function dec(value) {
    return missing(value) ? DASH : oneDecimal.format(value);
  }

  function pct(share) {
    return missing(share) ? DASH : percent.format(share);
  }

  function mins(seconds) {
    if (missing(seconds)) return DASH;
    if (seconds < 60) return VQ.t("dashboard.seconds", { n: whole.format(seconds) });
    const m = seconds / 60;
    const shown = Number.isInteger(m) || m >= 10 ? whole.format(m) : oneDecimal.format(m);
    return VQ.t("common.minutes", { n: shown });
  }

  function minutesRange(low, high) {
    const a = Math.round(low / 60);
    const b = Math.max(Math.round(high / 60), 1);
    return a >= b ? VQ.t("dashboard.about_minutes", { n: whole.format(b) })
      : VQ.t("common.minute_range", { low: whole.format(a), high: whole.format(b) });
  }

  // ---- Time --------------------------------------------------------------------------------

  // The queue's zone, if this browser knows it (vq-zone.js), else UTC.
  function zoneOf(q) {
    return VQ.zoneOf(q && q.timezone);
  }

  const timeFormats = {}; // per zone: a chart labels hundreds of points
  function hhmm(ms, tz) {
    if (!timeFormats[tz]) {
      timeFormats[tz] = new Intl.DateTimeFormat(VQ.lang, { timeZone: tz, hour: "2-digit",
        minute: "2-digit", hourCycle: "h23" });
    }
    return timeFormats[tz].format(new Date(ms));
  }

  // An hour of the day (0-23, already in the queue's zone) as a time: "09:00".
  function hour(h) {
    return hhmm(Date.UTC(2000, 0, 1, h), "UTC");
  }

  D.format = {
    num: num, dec: dec, pct: pct, mins: mins, minutesRange: minutesRange,
    parseTime: VQ.parseTime, apiNow: VQ.now, zoneOf: zoneOf,
    localMidnight: VQ.localMidnight, hhmm: hhmm, hour: hour,
  };
})();
