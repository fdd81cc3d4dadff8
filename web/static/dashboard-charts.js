/* dashboard-charts.js: the dashboard's charts, drawn as inline SVG (nothing loaded from
 * elsewhere): a time chart (bars and lines per 15-minute bucket, reference lines, the time axis in
 * the queue's zone) and horizontal bars. Each chart is an image with a label; each bar and point
 * has a title (its value in words, shown on hover).
 *
 * window.VQDashboard.charts: timeChart, barChart, pair, show, empty.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = (window.VQDashboard = window.VQDashboard || {});
  const f = D.format;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const QUARTER = 15 * 60 * 1000;
  const HOUR = 60 * 60 * 1000;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { node.setAttribute(k, String(v)); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function titled(node, text) {
    node.append(svg("title", {}, text));
    return node;
  }

  function show(figureId) {
    const nodes = Array.prototype.slice.call(arguments, 1);
    const body = document.querySelector("#" + figureId + " .body");
    body.replaceChildren.apply(body, nodes);
  }

  function empty(text) {
    return VQ.el("p", { class: "empty" }, text);
  }

  function niceScale(max, integer) {
    if (!(max > 0)) max = 1;
    const raw = max / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    let step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
    if (integer) step = Math.max(1, Math.round(step));
    const top = Math.ceil(max / step - 1e-9) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(+v.toFixed(6));
    return { top: top, ticks: ticks };
  }

  // A tick's label: a percentage (of 100) or a number, the language's way.
  function tick(v, percent) {
    return percent ? f.pct(v / 100) : f.num(v);
  }

  function frame(chart, o, x, y, M, pw, ph, ticks) {
    ticks.forEach(function (v) {
      chart.append(svg("line", { class: "gridline", x1: M.l, x2: M.l + pw, y1: y(v), y2: y(v) }),
        svg("text", { x: M.l - 6, y: y(v) + 4, "text-anchor": "end" }, tick(v, o.percent)));
    });
    chart.append(svg("text", { class: "axis-title", "text-anchor": "middle",
      transform: "translate(13 " + (M.t + ph / 2) + ") rotate(-90)" }, o.yLabel));
    const hours = (o.x1 - o.x0) / HOUR;
    const stepH = [1, 2, 3, 4, 6].find(function (s) { return hours / s <= 8; }) || 6;
    for (let t = o.x0; t <= o.x1 + 1; t += stepH * HOUR) {
      chart.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: M.t + ph, y2: M.t + ph + 5 }),
        svg("text", { x: x(t), y: M.t + ph + 18, "text-anchor": "middle" }, f.hhmm(t, o.tz)));
    }
    chart.append(svg("line", { class: "axis", x1: M.l, x2: M.l + pw, y1: M.t + ph, y2: M.t + ph }),
      svg("text", { class: "axis-title", x: M.l + pw / 2, y: M.t + ph + 36, "text-anchor": "middle" },
        VQ.t("dashboard.chart.time_axis", { zone: o.tz })));
  }

  function lines(chart, o, x, y) {
    (o.lines || []).forEach(function (series) {
      let path = "";
      let previous = null;
      series.points.forEach(function (p) {
        if (p.v === null || p.v === undefined) { previous = null; return; }
        const px = x(p.t + QUARTER / 2);
        const py = y(p.v);
        // Only neighbouring buckets are joined: a gap (no calls) is not drawn as a trend.
        path += (previous !== null && p.t - previous <= QUARTER ? "L" : "M") +
          px.toFixed(1) + " " + py.toFixed(1);
        previous = p.t;
        chart.append(titled(svg("circle", { class: "dot " + series.cls, cx: px, cy: py, r: 2.6 }),
          p.title));
      });
      if (path) chart.append(svg("path", { class: "line " + series.cls, d: path }));
    });
  }

  // Points: {t (bucket start, ms), v (number or null), title}.
  function timeChart(o) {
    const W = 640, H = 230, M = { l: 52, r: 16, t: 14, b: 40 };
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
      "aria-label": o.label });
    const scale = o.percent ? { top: 100, ticks: [0, 25, 50, 75, 100] } : niceScale(o.yMax, o.integer);
    const x = function (t) { return M.l + (t - o.x0) / (o.x1 - o.x0) * pw; };
    const y = function (v) { return M.t + ph - Math.min(v, scale.top) / scale.top * ph; };
    frame(chart, o, x, y, M, pw, ph, scale.ticks);
    const bucket = pw * QUARTER / (o.x1 - o.x0);
    (o.bars || []).forEach(function (series, i, all) {
      const width = Math.max(bucket / all.length - 0.6, 0.8);
      series.points.forEach(function (p) {
        if (!p.v) return;
        chart.append(titled(svg("rect", { class: series.cls, x: x(p.t) + i * bucket / all.length,
          y: y(p.v), width: width, height: y(0) - y(p.v) }), p.title));
      });
    });
    lines(chart, o, x, y);
    (o.hlines || []).forEach(function (h) {
      chart.append(svg("line", { class: "target", x1: M.l, x2: M.l + pw, y1: y(h.v), y2: y(h.v) }),
        svg("text", { class: "target-label", x: M.l + pw, y: y(h.v) - 4, "text-anchor": "end" },
          h.label));
    });
    if (o.now > o.x0 && o.now < o.x1) {
      chart.append(svg("line", { class: "now", x1: x(o.now), x2: x(o.now), y1: M.t, y2: M.t + ph }),
        svg("text", { x: x(o.now) + 3, y: M.t + 8 }, VQ.t("dashboard.chart.now")));
    }
    return chart;
  }

  // Horizontal bars, one row each: {label, v (number or null), text, title, strong}.
  function barChart(o) {
    const W = 320, rowH = 26, M = { l: 92, r: 46, t: 6, b: 30 };
    const H = M.t + o.rows.length * rowH + M.b, pw = W - M.l - M.r;
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
      "aria-label": o.label });
    const scale = o.percent ? { top: 100, ticks: [0, 50, 100] } : niceScale(o.max, true);
    const x = function (v) { return M.l + Math.min(v, scale.top) / scale.top * pw; };
    const bottom = M.t + o.rows.length * rowH;
    scale.ticks.forEach(function (v) {
      chart.append(svg("line", { class: "gridline", x1: x(v), x2: x(v), y1: M.t, y2: bottom }),
        svg("text", { x: x(v), y: bottom + 14, "text-anchor": "middle" }, tick(v, o.percent)));
    });
    chart.append(svg("text", { class: "axis-title", x: M.l + pw / 2, y: H - 2,
      "text-anchor": "middle" }, o.axis));
    o.rows.forEach(function (row, i) {
      const mid = M.t + i * rowH + rowH / 2;
      const name = row.label.length > 13 ? row.label.slice(0, 12) + "…" : row.label;
      chart.append(titled(svg("text", { class: "label" + (row.strong ? " strong" : ""), x: M.l - 6,
        y: mid + 4, "text-anchor": "end" }, name), row.label));
      const value = row.v === null || row.v === undefined ? null : o.percent ? row.v * 100 : row.v;
      if (value !== null) {
        chart.append(titled(svg("rect", { class: o.cls, x: M.l, y: mid - 8,
          width: Math.max(x(value) - M.l, value > 0 ? 1.5 : 0), height: 16, rx: 2 }), row.title));
      }
      chart.append(svg("text", { class: "value", x: (value ? x(value) : M.l) + 4, y: mid + 4 },
        row.text));
    });
    if (o.target !== undefined) {
      chart.append(svg("line", { class: "target", x1: x(o.target), x2: x(o.target), y1: M.t - 4,
        y2: bottom }));
    }
    chart.append(svg("line", { class: "axis", x1: M.l, x2: M.l, y1: M.t, y2: bottom }));
    return chart;
  }

  function pair(left, leftTitle, right, rightTitle) {
    return VQ.el("div", { class: "pair" },
      VQ.el("div", {}, VQ.el("h3", {}, leftTitle), left),
      VQ.el("div", {}, VQ.el("h3", {}, rightTitle), right));
  }

  D.charts = { timeChart: timeChart, barChart: barChart, pair: pair, show: show, empty: empty,
    svg: svg, titled: titled, niceScale: niceScale, QUARTER: QUARTER, HOUR: HOUR };
})();
