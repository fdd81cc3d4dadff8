/* dashboard-staffing.js: a staffing plan for a coming day of the chosen queue, made by the API in
 * the background (POST /v1/queues/<id>/staffing-plans, then GET /v1/staffing-plans/<id> until
 * done, its progress shown), drawn as counters per quarter hour with the forecast arrivals. The
 * manager edits it (select quarter hours: click, shift-click for a range; then +1 / -1, or the
 * arrow keys on a focused bar), checks the edited plan on fresh simulated days, and downloads it
 * as CSV (time,forecast,counters: what `vq simulate --staffing --plan` reads). Nothing here
 * changes the queue.
 *
 * window.VQDashboard.staffing: attach(api), where api = { start(body): POST for the chosen queue,
 * plan(id): GET that plan } (dashboard.js holds the routes); reset().
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = (window.VQDashboard = window.VQDashboard || {});
  const f = D.format;
  const c = D.charts;
  const POLL_MS = 800;
  const $ = function (id) { return document.getElementById(id); };
  let api = null;
  let plan = null; // the last plan (or check) done: its slots, edited in place
  let original = null; // the counters the last answer had
  let selected = { from: -1, to: -1 };
  let generation = 0;

  function counters() { return plan.slots.map(function (s) { return s.counters; }); }
  function hours(list) { return list.reduce(function (a, b) { return a + b; }, 0) / 4; }
  function edited() { return counters().some(function (n, i) { return n !== original[i]; }); }

  function progressNode(state) {
    const bar = VQ.el("progress", { "aria-label": VQ.t("dashboard.staffing.progress") });
    let text;
    if (state.phase === "check" && state.total) {
      bar.max = state.total;
      bar.value = state.done;
      text = VQ.t("dashboard.staffing.checking", { done: f.num(state.done), total: f.num(state.total) });
    } else if (state.phase === "search") {
      text = VQ.t("dashboard.staffing.searching", { days: f.num(state.done) });
    } else {
      text = VQ.t("dashboard.staffing.starting");
    }
    return VQ.el("div", { class: "plan-progress", role: "status" }, bar, VQ.el("span", {}, text));
  }

  async function follow(planId, mine) {
    for (;;) {
      const state = await api.plan(planId);
      if (mine !== generation) return null;
      if (state.status === "done" || state.status === "failed") return state;
      c.show("f-staffing", progressNode(state));
      await new Promise(function (r) { setTimeout(r, POLL_MS); });
    }
  }

  async function run(body) {
    const mine = ++generation;
    $("plan-make").disabled = true;
    c.show("f-staffing", progressNode({ phase: "start" }));
    try {
      const started = await api.start(body);
      const state = await follow(started.plan_id, mine);
      if (!state) return;
      if (state.status === "failed") {
        c.show("f-staffing", VQ.el("p", { class: "error" },
          VQ.t("dashboard.staffing.failed", { reason: state.error || "" })));
        return;
      }
      plan = state.plan;
      original = counters();
      selected = { from: -1, to: -1 };
      draw(state.kind);
    } catch (e) {
      if (mine !== generation) return;
      const words = e.status === 403 ? VQ.t("dashboard.staffing.forbidden")
        : VQ.t("dashboard.staffing.failed", { reason: e.text || "" });
      c.show("f-staffing", VQ.el("p", { class: "error" }, words));
    } finally {
      if (mine === generation) $("plan-make").disabled = false;
    }
  }

  function chart() {
    const n = plan.slots.length;
    const W = 640, H = 220, M = { l: 34, r: 10, t: 10, b: 34 };
    const pw = W - M.l - M.r, ph = H - M.t - M.b, step = pw / n;
    const top = c.niceScale(Math.max.apply(null, counters().concat([1])) + 1, true);
    const y = function (v) { return M.t + ph - v / top.top * ph; };
    const most = Math.max.apply(null, plan.slots.map(function (s) { return s.forecast; }).concat([1]));
    const svg = c.svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart plan-chart",
      role: "group", "aria-label": VQ.t("dashboard.staffing.chart_label") });
    top.ticks.forEach(function (v) {
      svg.append(c.svg("line", { class: "gridline", x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }),
        c.svg("text", { x: M.l - 6, y: y(v) + 4, "text-anchor": "end" }, f.num(v)));
    });
    const line = plan.slots.map(function (s, i) {
      return (M.l + (i + 0.5) * step).toFixed(1) + "," + (M.t + ph - s.forecast / most * ph * 0.9).toFixed(1);
    });
    plan.slots.forEach(function (s, i) {
      const chosen = i >= selected.from && i <= selected.to;
      const changed = s.counters !== original[i];
      const bar = c.titled(c.svg("rect", {
        class: "plan-bar" + (chosen ? " chosen" : "") + (changed ? " changed" : ""),
        x: M.l + i * step + 1, y: y(s.counters), width: Math.max(step - 2, 1),
        height: Math.max(y(0) - y(s.counters), 0), tabindex: 0, "data-slot": i,
        role: "button", "aria-pressed": chosen ? "true" : "false",
        "aria-label": VQ.t("dashboard.staffing.bar", { time: s.time, counters: f.num(s.counters),
          forecast: s.forecast.toFixed(1) }),
      }), VQ.t("dashboard.staffing.bar", { time: s.time, counters: f.num(s.counters),
        forecast: s.forecast.toFixed(1) }));
      svg.append(bar);
      if (i % 4 === 0) {
        svg.append(c.svg("text", { x: M.l + i * step, y: H - M.b + 14 }, s.time));
      }
    });
    svg.append(c.svg("polyline", { class: "line forecast", points: line.join(" ") }));
    svg.append(c.svg("text", { class: "axis-title", x: M.l + pw / 2, y: H - 2,
      "text-anchor": "middle" }, VQ.t("dashboard.staffing.axis")));
    svg.addEventListener("click", function (e) {
      const slot = e.target.getAttribute && e.target.getAttribute("data-slot");
      if (slot === null || slot === undefined) return;
      choose(+slot, e.shiftKey);
    });
    svg.addEventListener("keydown", onKey);
    return svg;
  }

  function choose(slot, extend) {
    if (extend && selected.from >= 0) {
      selected = { from: Math.min(selected.from, slot), to: Math.max(selected.to, slot) };
    } else {
      selected = { from: slot, to: slot };
    }
    redraw(slot);
  }

  function change(delta, focus) {
    if (selected.from < 0) return;
    for (let i = selected.from; i <= selected.to; i++) {
      plan.slots[i].counters = Math.max(0, Math.min(200, plan.slots[i].counters + delta));
    }
    redraw(focus === undefined ? selected.from : focus);
  }

  function onKey(e) {
    const slot = e.target.getAttribute && e.target.getAttribute("data-slot");
    if (slot === null || slot === undefined) return;
    if (e.key === "Enter" || e.key === " ") { choose(+slot, e.shiftKey); e.preventDefault(); }
    if (e.key === "ArrowUp" || e.key === "ArrowDown") {
      if (!(+slot >= selected.from && +slot <= selected.to)) selected = { from: +slot, to: +slot };
      change(e.key === "ArrowUp" ? 1 : -1, +slot);
      e.preventDefault();
    }
  }

  let lastKind = "plan";

  function redraw(focusSlot) {
    draw(lastKind);
    if (focusSlot !== undefined) {
      const bar = document.querySelector('#f-staffing [data-slot="' + focusSlot + '"]');
      if (bar) bar.focus();
    }
  }

  function summary(kind) {
    const passed = plan.checked.filter(function (d) { return d.under; }).length;
    const words = VQ.t(kind === "check" ? "dashboard.staffing.checked_yours"
      : "dashboard.staffing.checked_plan", { day: plan.day, hours: f.dec(plan.counter_hours),
      passed: f.num(passed), days: f.num(plan.checked.length),
      share: f.pct(plan.checked_share), confidence: f.pct(plan.confidence),
      target: f.mins(plan.target_seconds) });
    const strip = VQ.el("div", { class: "days", role: "list",
      "aria-label": VQ.t("dashboard.staffing.days_label") }, plan.checked.map(function (d, i) {
      return VQ.el("span", { role: "listitem", class: d.under ? "day ok" : "day miss",
        title: VQ.t("dashboard.staffing.day", { n: i + 1, p90: f.mins(d.p90_wait) }) },
      d.under ? "✓" : "✗");
    }));
    return [VQ.el("p", { class: "plan-summary" }, words), strip];
  }

  function draw(kind) {
    lastKind = kind;
    const now = counters();
    const tools = VQ.el("div", { class: "plan-tools" },
      button("plan-less", "dashboard.staffing.less", function () { change(-1); }, selected.from < 0),
      button("plan-more", "dashboard.staffing.more", function () { change(1); }, selected.from < 0),
      button("plan-check", "dashboard.staffing.check", function () {
        run({ date: plan.day, confidence: plan.confidence, counters: counters() });
      }, !edited()),
      button("plan-csv", "dashboard.staffing.csv", download, false));
    const status = VQ.el("p", { class: "note", id: "plan-edited", "aria-live": "polite" },
      edited() ? VQ.t("dashboard.staffing.edited", { hours: f.dec(hours(now)),
        was: f.dec(hours(original)) }) : VQ.t("dashboard.staffing.how_to_edit"));
    c.show.apply(null, ["f-staffing"].concat(summary(kind), [chart(), tools, status]));
  }

  function button(id, key, action, disabled) {
    const b = VQ.el("button", { type: "button", id: id }, VQ.t(key));
    b.disabled = disabled;
    b.addEventListener("click", action);
    return b;
  }

  function download() {
    const rows = [["time", "forecast", "counters"]].concat(plan.slots.map(function (s) {
      return [s.time, s.forecast.toFixed(1), String(s.counters)];
    }));
    const blob = new Blob([rows.map(function (r) { return r.join(","); }).join("\n") + "\n"],
      { type: "text/csv" });
    const name = "staffing-" + plan.day + ".csv";
    const link = VQ.el("a", { href: URL.createObjectURL(blob), download: name, hidden: "hidden" }, name);
    document.body.append(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  function reset() {
    generation += 1;
    plan = null;
    if ($("plan-make")) $("plan-make").disabled = false;
    if (document.querySelector("#f-staffing .body")) {
      c.show("f-staffing", c.empty(VQ.t("dashboard.staffing.none")));
    }
  }

  function attach(given) {
    api = given;
    const form = $("plan-form");
    if (!form) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const body = { confidence: +$("plan-confidence").value };
      if ($("plan-day").value) body.date = $("plan-day").value;
      run(body);
    });
    reset();
  }

  D.staffing = { attach: attach, reset: reset };
})();
