/* dashboard-advice.js: what limits the queue now (GET /v1/queues/<id>/bottlenecks): each
 * finding as a bar of the people an hour it costs, and a sentence with its evidence.
 *
 * window.VQDashboard.figures.bottlenecks(settled): the settled promise of that call.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = (window.VQDashboard = window.VQDashboard || {});
  const f = D.format;
  const c = D.charts;
  // Each kind's name and sentence (the keys written out, so a test finds them in the catalogues).
  const KINDS = {
    counter_idle: ["dashboard.bottleneck.counter_idle", "dashboard.bottleneck_text.counter_idle"],
    slower_service: ["dashboard.bottleneck.slower_service",
      "dashboard.bottleneck_text.slower_service"],
    no_show_spike: ["dashboard.bottleneck.no_show_spike", "dashboard.bottleneck_text.no_show_spike"],
    arrivals_above_usual: ["dashboard.bottleneck.arrivals_above_usual",
      "dashboard.bottleneck_text.arrivals_above_usual"],
    line_growing: ["dashboard.bottleneck.line_growing", "dashboard.bottleneck_text.line_growing"],
  };

  function keys(kind) {
    return Object.prototype.hasOwnProperty.call(KINDS, kind) ? KINDS[kind] : null;
  }

  function label(finding) {
    const known = keys(finding.kind);
    const kind = known ? VQ.t(known[0]) : String(finding.kind);
    if (finding.subject === null) return kind;
    return kind + " " + (finding.subject === "" ? VQ.t("dashboard.bottleneck.no_type") : finding.subject);
  }

  function sentence(finding) {
    const e = finding.evidence;
    const args = {
      counter: VQ.counterLabel(finding.subject, "dashboard.counter_named"),
      type: finding.subject || VQ.t("dashboard.bottleneck.no_type"),
      usual_days: f.num(e.usual_days), days: f.num(e.days), waiting: f.num(e.waiting),
      served: f.num(e.served), mean: f.mins(e.mean_service_seconds),
      usual_mean: f.mins(e.usual_mean_service_seconds), ratio: e.ratio,
      no_shows: f.num(e.no_shows), called: f.num(e.called), share: f.pct(e.share),
      usual_share: f.pct(e.usual_share), arrivals: f.num(e.arrivals),
      usual_arrivals: e.usual_arrivals, in_rate: f.num(e.arrivals_per_hour),
      out_rate: f.num(e.served_per_hour),
    };
    const known = keys(finding.kind);
    return known ? VQ.t(known[1], args) : "";
  }

  function bottlenecks(result) {
    if (result.status === "rejected") {
      c.show("f-bottlenecks", VQ.el("p", { class: "error" },
        VQ.t("dashboard.bottlenecks_failed", { reason: result.reason.text })));
      return;
    }
    const answer = result.value;
    const found = answer.findings || [];
    if (!found.length) {
      c.show("f-bottlenecks", c.empty(answer.compared_days
        ? VQ.t("dashboard.bottlenecks_none", { days: f.num(answer.compared_days) })
        : VQ.t("dashboard.bottlenecks_no_history")));
      return;
    }
    const chart = c.barChart({
      label: VQ.t("dashboard.chart.bottlenecks_label"), cls: "cost",
      axis: VQ.t("dashboard.chart.people_per_hour"),
      max: Math.max.apply(null, found.map(function (x) { return x.people_per_hour; })),
      rows: found.map(function (x) {
        return { label: label(x), v: x.people_per_hour, text: f.num(Math.round(x.people_per_hour)),
          title: sentence(x) };
      }),
    });
    const list = VQ.el("ul", { class: "findings" }, found.map(function (x) {
      return VQ.el("li", { "data-kind": x.kind }, VQ.el("strong", {}, label(x)), " ", sentence(x));
    }));
    c.show("f-bottlenecks", chart, list, VQ.el("p", { class: "note" },
      VQ.t("dashboard.bottlenecks_note", { days: f.num(answer.compared_days) })));
  }

  D.figures = D.figures || {};
  D.figures.bottlenecks = bottlenecks;
})();
