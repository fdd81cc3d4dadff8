/* dashboard-figures.js: today's figures of one queue (GET /v1/queues/<id>/analytics since
 * midnight in the queue's zone, 15-minute buckets) and how right its wait estimates were
 * (GET /v1/queues/<id>/accuracy), as words, charts and a table.
 *
 * window.VQDashboard.figures: analytics(answer, queue, zone, now, midnight), accuracy(settled).
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = (window.VQDashboard = window.VQDashboard || {});
  const f = D.format;
  const c = D.charts;
  const COVERAGE_TARGET = 0.8;
  const ESTIMATOR = {
    rules: VQ.t("dashboard.estimator.rules"),
    learned: VQ.t("dashboard.estimator.learned"),
    served: VQ.t("dashboard.estimator.served"), // what people were actually shown
  };

  function estimatorName(name) {
    return Object.prototype.hasOwnProperty.call(ESTIMATOR, name) ? ESTIMATOR[name] : String(name);
  }

  function frameOf(rows, tz, now, midnight) {
    const first = f.parseTime(rows[0].start);
    const lastStart = f.parseTime(rows[rows.length - 1].start);
    // From the hour of the first activity (or 3 h before now, if earlier; not before 00:00)
    // to the end of the current hour.
    const x0 = midnight + Math.floor((Math.min(first, now - 3 * c.HOUR) - midnight) / c.HOUR) * c.HOUR;
    const x1 = midnight + Math.ceil((Math.max(now, lastStart + c.QUARTER) - midnight) / c.HOUR) * c.HOUR;
    return { x0: Math.max(x0, midnight), x1: Math.max(x1, x0 + c.HOUR), tz: tz, now: now };
  }

  function series(rows, tz, get, name, text) {
    return rows.map(function (r) {
      const t = f.parseTime(r.start);
      const v = get(r);
      const span = VQ.t("dashboard.span", { from: f.hhmm(t, tz), to: f.hhmm(t + c.QUARTER, tz) });
      return { t: t, v: v, title: VQ.t("dashboard.point_title", {
        span: span, name: name, value: v === null || v === undefined ? "–" : text(v) }) };
    });
  }

  function drawFlow(rows, frame) {
    const maxCount = Math.max.apply(null, [1].concat(rows.map(function (r) {
      return Math.max(r.arrivals, r.served);
    })));
    c.show("f-flow", c.timeChart(Object.assign({}, frame, {
      label: VQ.t("dashboard.chart.flow_label"), yLabel: VQ.t("dashboard.chart.flow_axis"),
      yMax: maxCount, integer: true, bars: [
        { cls: "arrivals", points: series(rows, frame.tz, function (r) { return r.arrivals; },
          VQ.t("dashboard.series.arrivals"), f.num) },
        { cls: "served", points: series(rows, frame.tz, function (r) { return r.served; },
          VQ.t("dashboard.series.served"), f.num) }],
    })));
  }

  function drawWaits(rows, frame, target) {
    const toMin = function (s) { return s === null || s === undefined ? null : s / 60; };
    const text = function (v) { return f.mins(v * 60); };
    const p50 = series(rows, frame.tz, function (r) { return toMin(r.wait_seconds.p50); },
      VQ.t("dashboard.series.p50"), text);
    const p90 = series(rows, frame.tz, function (r) { return toMin(r.wait_seconds.p90); },
      VQ.t("dashboard.series.p90"), text);
    const waits = p50.concat(p90).map(function (p) { return p.v; })
      .filter(function (v) { return v !== null; });
    if (!waits.length) {
      c.show("f-wait", c.empty(VQ.t("dashboard.no_waits")));
      return;
    }
    const targetMin = target ? target / 60 : null;
    c.show("f-wait", c.timeChart(Object.assign({}, frame, {
      label: VQ.t("dashboard.chart.wait_label"), yLabel: VQ.t("dashboard.chart.wait_axis"),
      yMax: Math.max.apply(null, waits.concat([targetMin ? targetMin * 1.15 : 0])),
      lines: [{ cls: "p50", points: p50 }, { cls: "p90", points: p90 }],
      hlines: targetMin ? [{ v: targetMin, label: VQ.t("dashboard.chart.target",
        { minutes: f.mins(target) }) }] : [],
    })));
  }

  function drawShares(rows, frame) {
    const share = function (v) { return f.pct(v / 100); };
    const within = series(rows, frame.tz, function (r) {
      return r.within_target_share === null ? null : r.within_target_share * 100;
    }, VQ.t("dashboard.series.within"), share);
    const abandon = series(rows, frame.tz, function (r) {
      return r.abandonment_rate === null ? null : r.abandonment_rate * 100;
    }, VQ.t("dashboard.series.abandonment"), share);
    if (!within.concat(abandon).some(function (p) { return p.v !== null; })) {
      c.show("f-share", c.empty(VQ.t("dashboard.no_calls_or_arrivals")));
      return;
    }
    c.show("f-share", c.timeChart(Object.assign({}, frame, {
      percent: true, label: VQ.t("dashboard.chart.share_label"),
      yLabel: VQ.t("dashboard.chart.share_axis"),
      lines: [{ cls: "within-line", points: within }, { cls: "abandon", points: abandon }],
    })));
  }

  function rangeLine(a, tz, now) {
    const peaks = (a.peak_hours || []).map(function (p) {
      return VQ.t("dashboard.peak", { hour: f.hour(p.hour), arrivals: f.num(p.arrivals) });
    }).join(", ");
    const line = VQ.t("dashboard.range", { zone: tz, time: f.hhmm(now, tz) });
    return peaks ? line + " · " + VQ.t("dashboard.range_peaks", { peaks: peaks }) : line;
  }

  function analytics(a, q, tz, now, midnight) {
    const rows = a.rows || [];
    const total = a.total || {};
    const target = total.target_wait_seconds || (q && q.target_wait_seconds) || null;
    document.getElementById("range").textContent = rangeLine(a, tz, now);
    today(total);
    if (!rows.length) {
      ["f-flow", "f-wait", "f-share"].forEach(function (id) {
        c.show(id, c.empty(VQ.t("dashboard.no_data_today")));
      });
    } else {
      const frame = frameOf(rows, tz, now, midnight);
      drawFlow(rows, frame);
      drawWaits(rows, frame, target);
      drawShares(rows, frame);
    }
    counters(total.counters || {}, q, a, now, tz);
  }

  function today(total) {
    const box = document.getElementById("today");
    box.replaceChildren();
    if (!total || total.arrivals === undefined) return;
    if (!total.arrivals && !total.called && !total.served) {
      box.append(VQ.el("p", {}, VQ.t("dashboard.today_nothing")));
      return;
    }
    const item = function (value, label) {
      box.append(VQ.el("div", {}, VQ.el("b", {}, value), " ", VQ.el("span", {}, label)));
    };
    item(VQ.t("dashboard.today"), "");
    item(f.num(total.arrivals), VQ.t("dashboard.today_arrivals"));
    item(f.num(total.served), VQ.t("dashboard.today_served"));
    item(f.num(total.no_shows + total.walkaways), VQ.t("dashboard.today_abandoned",
      { share: f.pct(total.abandonment_rate) }));
    item(f.num(total.cancellations), VQ.t("dashboard.today_cancelled"));
    const waits = total.wait_seconds || {};
    item(f.mins(waits.p50), VQ.t("dashboard.today_median_wait"));
    item(f.mins(waits.p90), VQ.t("dashboard.today_p90_wait"));
    item(f.pct(total.within_target_share), VQ.t("dashboard.today_within",
      { minutes: f.mins(total.target_wait_seconds) }));
    // Fairness: of those called who had been shown a range, who waited over twice its median.
    item(f.pct(total.over_twice_share), VQ.t("dashboard.today_over_twice"));
    // Sent here as the shortest expected wait (POST /v1/routing/tickets): what they were shown
    // against what they waited.
    const routed = total.routed || {};
    if (routed.joined) {
      item(f.num(routed.joined), VQ.t("dashboard.today_routed", {
        shown: f.mins(routed.mean_shown_p50_seconds),
        waited: f.mins(routed.mean_wait_when_shown_seconds),
      }));
    }
  }

  // "Counter 3" for a counter named by a number or code; "Room 4" as it is (VQ.counterLabel).
  function named(counter) {
    return VQ.counterLabel(counter, "dashboard.counter_named");
  }

  // The totals' utilisation is busy time over the whole range (since 00:00, closed hours
  // included); shown instead over each counter's own working time today, from the quarter hour
  // of its first service to that of its last (now, at most): what a manager means by "how busy
  // was that counter". A break in between counts as not busy; the evening after closing does not.
  function counters(found, q, a, now, tz) {
    const names = Array.from(new Set(((q && q.counters) || []).concat(Object.keys(found))));
    const rows = a.rows || [];
    if (!names.length || !Object.keys(found).length || !rows.length) {
      c.show("f-counters", c.empty(VQ.t("dashboard.no_counter_served")));
      return;
    }
    const whole = f.parseTime(a.to) - f.parseTime(a.from);
    const span = function (n) {  // [first busy row's start, last busy row's end or now]
      let from = null, to = null;
      rows.forEach(function (r) {
        const k = (r.counters || {})[n];
        if (k && k.utilisation > 0) {
          if (from === null) from = f.parseTime(r.start);
          to = Math.min(f.parseTime(r.end), now);
        }
      });
      return from === null ? null : { from: from, to: Math.max(to, from) };
    };
    const of = {};  // each counter's figures, worked out once
    names.forEach(function (n) {
      const k = found[n] || { served: 0, utilisation: 0, mean_service_seconds: null };
      const worked = span(n);
      const busy = worked === null ? 0
        : Math.min(k.utilisation * whole / Math.max(worked.to - worked.from, 1), 1);
      of[n] = Object.assign({}, k, { busy: busy, span: worked });
    });
    const served = c.barChart({ label: VQ.t("dashboard.chart.served_label"), cls: "served",
      axis: VQ.t("dashboard.chart.served_axis"),
      max: Math.max.apply(null, [1].concat(names.map(function (n) { return of[n].served; }))),
      rows: names.map(function (n) {
        const k = of[n];
        return { label: n, v: k.served, text: f.num(k.served),
          title: VQ.t("dashboard.counter_served_title", { counter: named(n),
            served: f.num(k.served), minutes: f.mins(k.mean_service_seconds) }) };
      }) });
    const util = c.barChart({ label: VQ.t("dashboard.chart.util_label"), cls: "util", percent: true,
      axis: VQ.t("dashboard.chart.util_axis"),
      rows: names.map(function (n) {
        const k = of[n];
        return { label: n, v: k.busy, text: f.pct(k.busy),
          title: k.span === null ? n : VQ.t("dashboard.counter_busy_title", { counter: named(n),
            share: f.pct(k.busy), from: f.hhmm(k.span.from, tz), to: f.hhmm(k.span.to, tz) }) };
      }) });
    c.show("f-counters", c.pair(served, VQ.t("dashboard.served_people"), util,
      VQ.t("dashboard.utilisation")), VQ.el("p", { class: "note" },
      VQ.t("dashboard.utilisation_note")));
  }

  function accuracyTable(a, list) {
    const head = VQ.el("tr", {}, [VQ.t("dashboard.col.estimator"), VQ.t("dashboard.col.mae"),
      VQ.t("dashboard.col.called"), VQ.t("dashboard.col.waiting"),
      VQ.t("dashboard.col.over_twice")].map(function (h) {
      return VQ.el("th", { scope: "col" }, h);
    }));
    // On a phone the table may be wider than the screen: it scrolls in its own box, which a
    // keyboard must reach too (focusable, a named region: axe's scrollable-region-focusable).
    const table = VQ.el("table", {}, VQ.el("thead", {}, head), VQ.el("tbody", {}, list.map(function (e) {
      return VQ.el("tr", {},
        VQ.el("td", {}, estimatorName(e.estimator),
          e.estimator === a.serving ? VQ.el("span", { class: "tag" }, VQ.t("dashboard.in_use")) : null),
        VQ.el("td", {}, f.mins(e.mae_seconds)),
        VQ.el("td", {}, VQ.t("dashboard.called_of_estimated",
          { called: f.num(e.called), estimated: f.num(e.estimated) })),
        VQ.el("td", {}, f.num(e.waiting)),
        VQ.el("td", {}, f.pct(e.over_twice_p50)));
    })));
    return VQ.el("div", { class: "table-scroll", tabindex: "0", role: "region",
      "aria-label": VQ.t("dashboard.fig.accuracy") }, table);
  }

  function accuracy(result) {
    if (result.status === "rejected") {
      c.show("f-accuracy", result.reason.status === 404
        ? c.empty(VQ.t("dashboard.accuracy_none"))
        : VQ.el("p", { class: "error" }, VQ.t("dashboard.accuracy_failed",
          { reason: result.reason.text })));
      return;
    }
    const a = result.value;
    const list = a.estimators || [];
    if (!list.length) {
      c.show("f-accuracy", c.empty(VQ.t("dashboard.no_estimates")));
      return;
    }
    const rows = function (field) {
      return list.map(function (e) {
        return { label: estimatorName(e.estimator), v: e[field], strong: e.estimator === a.serving,
          text: e[field] === null ? VQ.t("dashboard.no_calls_yet") : f.pct(e[field]),
          title: VQ.t("dashboard.estimator_title", { estimator: estimatorName(e.estimator),
            share: f.pct(e[field]), called: f.num(e.called) }) };
      });
    };
    const within = c.barChart({ label: VQ.t("dashboard.chart.within20_label"), cls: "within",
      percent: true, axis: VQ.t("dashboard.chart.of_called"), rows: rows("within_20_percent") });
    const coverage = c.barChart({ label: VQ.t("dashboard.chart.coverage_label"), cls: "coverage",
      percent: true, axis: VQ.t("dashboard.chart.coverage_axis", { target: f.pct(COVERAGE_TARGET) }),
      target: COVERAGE_TARGET * 100, rows: rows("p10_p90_coverage") });
    c.show("f-accuracy", c.pair(within, VQ.t("dashboard.within20"), coverage,
      VQ.t("dashboard.coverage", { target: f.pct(COVERAGE_TARGET) })), accuracyTable(a, list),
    VQ.el("p", { class: "note" }, VQ.t("dashboard.accuracy_note",
      { served: estimatorName("served"), estimator: estimatorName(a.serving) })));
  }

  D.figures = Object.assign(D.figures || {},
    { analytics: analytics, accuracy: accuracy, estimatorName: estimatorName });
})();
