/* admin-analytics.js: the Analytics section: a day's figures, for every queue together
 * (GET /v1/analytics) or one (GET /v1/queues/{id}/analytics): the totals, a chart of arrivals
 * and people served per period (inline SVG), the periods as a table, each queue's day side by
 * side, a CSV export (the same routes with format=csv) and the live dashboard (/dashboard).
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const SVG = "http://www.w3.org/2000/svg";
  const BUCKETS = ["1h", "15m", "1d"];
  const ui = { controls: null, out: null, queues: [], seq: 0, today: null };

  function t(key, vars) { return VQ.admin.word("analytics", key, vars); }

  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) {
      return "UTC";
    }
  }

  // Today in this browser's zone, on the API's clock (a demo's may be on another day).
  function today() {
    const now = new Date(VQ.now());
    return now.getFullYear() + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-" +
      String(now.getDate()).padStart(2, "0");
  }

  // The chosen day, from this browser's midnight to the next one (RFC 3339, UTC).
  function range(day) {
    const parts = (day || today()).split("-").map(Number);
    const start = new Date(parts[0], parts[1] - 1, parts[2]);
    const end = new Date(parts[0], parts[1] - 1, parts[2] + 1);
    return { from: start.toISOString(), to: end.toISOString() };
  }

  function query(choice, extra) {
    const span = range(choice.day);
    const params = new URLSearchParams({ from: span.from, to: span.to, bucket: choice.bucket });
    if (!choice.queue) params.set("timezone", zone());
    Object.entries(extra || {}).forEach(function (e) { params.set(e[0], e[1]); });
    const base = choice.queue ? "/v1/queues/" + encodeURIComponent(choice.queue) + "/analytics"
      : "/v1/analytics";
    return base + "?" + params.toString();
  }

  function pct(share) {
    return share === null || share === undefined ? "–" : Math.round(share * 100) + " %";
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(function (e) { node.setAttribute(e[0], String(e[1])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function moment(iso) {
    return Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  }

  function period(when, bucket) {
    const at = new Date(typeof when === "number" ? when : moment(when));
    const options = bucket === "1d" ? { dateStyle: "medium" } : { hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat(VQ.lang, options).format(at);
  }

  // Every period of the day (those nobody came in too), with the rows' figures in their place.
  function slots(rows, chosen) {
    const size = { "15m": 15 * 60000, "1h": 3600000 }[chosen.bucket];
    const mapped = rows.map(function (r) {
      return { t: moment(r.start), arrivals: r.arrivals, served: r.served };
    });
    if (!size) return mapped;
    const span = range(chosen.day);
    const from = Date.parse(span.from);
    const out = [];
    for (let at = from; at < Date.parse(span.to); at += size) {
      out.push({ t: at, arrivals: 0, served: 0 });
    }
    mapped.forEach(function (r) {
      const slot = out[Math.floor((r.t - from) / size)];
      if (slot) {
        slot.arrivals += r.arrivals;
        slot.served += r.served;
      }
    });
    return out;
  }

  function axis(node, top, step, box) {
    for (let v = 0; v <= top; v += step) {
      const y = box.t + box.h - v / top * box.h;
      node.append(svg("line", { x1: box.l, x2: box.l + box.w, y1: y, y2: y, class: "gridline" }),
        svg("text", { x: box.l - 6, y: y + 4, "text-anchor": "end" }, v));
    }
    node.append(svg("line", { x1: box.l, x2: box.l + box.w, y1: box.t + box.h, y2: box.t + box.h,
      class: "axis" }));
  }

  // Arrivals and people served per period, side by side: a bar chart with a titled bar each.
  function chart(rows, chosen) {
    const W = 720;
    const H = 260;
    const box = { l: 44, t: 12, w: 720 - 44 - 12, h: 260 - 12 - 40 };
    const points = slots(rows, chosen);
    const max = Math.max(1, ...points.map(function (p) { return Math.max(p.arrivals, p.served); }));
    const step = Math.max(1, Math.ceil(max / 4));
    const top = step * 4;
    const slot = box.w / Math.max(points.length, 1);
    const bar = Math.max(2, Math.min(24, slot / 2 - 1));
    const title = t("chart_label");
    const node = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
      "aria-label": title });
    axis(node, top, step, box);
    const every = Math.max(1, Math.ceil(points.length / 8));
    points.forEach(function (p, i) {
      const x = box.l + i * slot + slot / 2;
      const label = period(p.t, chosen.bucket);
      [["arrivals", p.arrivals, -bar], ["served", p.served, 0]].forEach(function (s) {
        if (!s[1]) return;
        const h = s[1] / top * box.h;
        const rect = svg("rect", { x: x + s[2], y: box.t + box.h - h, width: bar, height: h,
          class: "bar-" + s[0] });
        rect.append(svg("title", {}, label + " · " + t(s[0]) + ": " + s[1]));
        node.append(rect);
      });
      if (i % every === 0) { // a period's label at its start (a day's in its middle)
        const at = chosen.bucket === "1d" ? x : box.l + i * slot;
        node.append(svg("line", { x1: at, x2: at, y1: box.t + box.h, y2: box.t + box.h + 5,
          class: "axis" }), svg("text", { x: at, y: H - 20, "text-anchor": "middle" }, label));
      }
    });
    const legend = VQ.el("p", { class: "legend", "aria-hidden": "true" },
      VQ.el("span", { class: "key key-arrivals" }), t("arrivals"), " ",
      VQ.el("span", { class: "key key-served" }), t("served"));
    return VQ.el("figure", { class: "chart-figure" }, VQ.el("figcaption", {}, title), legend, node);
  }

  function figures(total) {
    const item = function (value, label) {
      return VQ.el("div", { class: "figure" }, VQ.el("dt", {}, label), VQ.el("dd", {}, value));
    };
    const wait = total.wait_seconds || {};
    return VQ.el("dl", { class: "figures" },
      item(String(total.arrivals || 0), t("arrivals")),
      item(String(total.served || 0), t("served")),
      item(String((total.no_shows || 0) + (total.walkaways || 0)), t("no_shows")),
      item(A.f.minutes(wait.p50), t("median_wait")),
      item(A.f.minutes(wait.p90), t("p90_wait")),
      item(pct(total.within_target_share), t("within_target", {
        target: A.f.minutes(total.target_wait_seconds) })));
  }

  function rowsTable(rows, bucket) {
    const f = A.f;
    return f.table(t("rows_caption"), [t("col.period"), t("arrivals"), t("served"), t("no_shows"),
      t("median_wait"), t("p90_wait"), t("col.within")], rows.map(function (r) {
      return f.row([period(r.start, bucket), String(r.arrivals), String(r.served),
        String(r.no_shows + r.walkaways), f.minutes(r.wait_seconds.p50),
        f.minutes(r.wait_seconds.p90), pct(r.within_target_share)]);
    }), "figures-table");
  }

  // Every queue's day, side by side (one request per queue, in parallel).
  async function perQueue(choice, mine) {
    const f = A.f;
    const holder = VQ.el("div", { class: "per-queue" }, VQ.el("h3", {}, t("per_queue")), f.loading());
    const answers = await Promise.allSettled(ui.queues.map(function (q) {
      return VQ.api(query({ queue: q.queue_id, day: choice.day, bucket: "1d" }));
    }));
    if (mine !== ui.seq) return holder;
    const rows = ui.queues.map(function (q, i) {
      const a = answers[i];
      if (a.status !== "fulfilled") return f.row([q.name, VQ.el("span", { class: "error-text" },
        A.problemText(a.reason) || ""), "", "", "", ""]);
      const total = a.value.total;
      return f.row([q.name, String(total.arrivals), String(total.served),
        String(total.no_shows + total.walkaways), f.minutes(total.wait_seconds.p50),
        pct(total.within_target_share)]);
    });
    holder.lastChild.replaceWith(f.table(t("per_queue"), [t("col.queue"), t("arrivals"),
      t("served"), t("no_shows"), t("median_wait"), t("col.within")], rows, "per-queue-table"));
    return holder;
  }

  function choice() {
    const form = ui.controls;
    return { queue: form.elements.queue.value, day: form.elements.day.value || today(),
      bucket: form.elements.bucket.value };
  }

  async function load() {
    const mine = ++ui.seq;
    const chosen = choice();
    ui.out.replaceChildren(A.f.loading());
    try {
      const result = await VQ.api(query(chosen));
      if (mine !== ui.seq) return;
      const parts = [figures(result.total || {})];
      if (result.rows && result.rows.length) {
        parts.push(chart(result.rows, chosen), rowsTable(result.rows, chosen.bucket));
      } else {
        parts.push(VQ.el("p", { class: "muted" }, t("no_rows")));
      }
      ui.out.replaceChildren.apply(ui.out, parts);
      A.say(t("updated"));
      if (!chosen.queue && ui.queues.length) ui.out.append(await perQueue(chosen, mine));
    } catch (problem) {
      if (mine === ui.seq) A.fail(ui.out, problem, load);
    }
  }

  async function download(button) {
    const chosen = choice();
    const name = (chosen.queue ? "queue" : "all-queues") + "-" + chosen.day + ".csv";
    button.disabled = true;
    try {
      await VQ.download(query(chosen, { format: "csv" }), name);
      A.say(t("downloaded", { name: name }));
    } catch (problem) {
      A.fail(ui.out, problem);
    } finally {
      button.disabled = false;
    }
  }

  function controls() {
    const f = A.f;
    const queue = f.field({ name: "queue", type: "select", label: t("queue"), value: "",
      options: [["", t("all_queues")]] });
    ui.today = today();
    const day = f.field({ name: "day", type: "date", label: t("day"), value: ui.today,
      attrs: { max: ui.today } });
    const bucket = f.field({ name: "bucket", type: "select", label: t("bucket"), value: "1h",
      options: BUCKETS.map(function (b) { return [b, t("bucket." + b)]; }) });
    const csv = VQ.el("button", { type: "button", class: "secondary", id: "analytics-csv" },
      t("csv"));
    csv.addEventListener("click", function () { download(csv); });
    const form = VQ.el("form", { class: "analytics-controls row align-end", novalidate: true },
      queue.wrap, day.wrap, bucket.wrap, csv,
      VQ.el("a", { class: "button secondary", href: "/dashboard", id: "analytics-dashboard" },
        t("dashboard")));
    form.addEventListener("change", load);
    form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
    return form;
  }

  // The day's field: today (unless another day was chosen) and never after it.
  function fillDay() {
    const day = ui.controls.elements.day;
    const now = today();
    if (!day.value || day.value === ui.today) day.value = now;
    day.max = now;
    ui.today = now;
  }

  async function show() {
    try {
      ui.queues = await A.queues(true);
    } catch (problem) {
      ui.queues = [];
    }
    await VQ.clock.ready;
    fillDay();
    const select = ui.controls.elements.queue;
    const before = select.value;
    A.f.fill(select, VQ.el("option", { value: "" }, t("all_queues")),
      ui.queues.map(function (q) { return VQ.el("option", { value: q.queue_id }, q.name); }));
    select.value = ui.queues.some(function (q) { return q.queue_id === before; }) ? before : "";
    load();
  }

  function build(body) {
    ui.controls = controls();
    ui.out = VQ.el("div", { class: "analytics-out" });
    body.append(ui.controls, VQ.el("p", { class: "hint" }, t("zone_hint", { zone: zone() })),
      ui.out);
  }

  A.register("analytics", {
    permission: "analytics:read",
    build: build,
    show: show,
    reset: function () { ui.queues = []; ui.seq += 1; },
  });
})();
