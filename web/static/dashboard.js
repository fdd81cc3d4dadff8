/* dashboard.js: the manager's dashboard (/dashboard), one queue at a time.
 *
 * Its live view comes from the queue's stream (the whole view after every change); today's
 * analytics and the estimators' accuracy are fetched every 30 s and soon after the stream says
 * the queue moved (dashboard-figures.js draws them). Path templates are in ROUTES only (a test
 * checks each one against the API's OpenAPI document).
 *
 * The page's credential, in this order: a key in the query (?access_token=, as links made before
 * had it); a key handed over in the fragment (#key=..., which no server sees: kept by this
 * browser, off the address bar); the session of a person signed in to the admin console in this
 * browser (vq.js renews it); a key this browser kept from an earlier #key= link. Always sent as
 * a header, never in a URL.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const D = window.VQDashboard;
  const f = D.format;
  const c = D.charts;
  const ROUTES = {
    queues: "/v1/queues",
    events: "/v1/queues/{queue_id}/events",
    analytics: "/v1/queues/{queue_id}/analytics",
    accuracy: "/v1/queues/{queue_id}/accuracy",
    bottlenecks: "/v1/queues/{queue_id}/bottlenecks",
    staffing: "/v1/queues/{queue_id}/staffing-plans",
    plan: "/v1/staffing-plans/{plan_id}",
  };
  const REFRESH_MS = 30000; // analytics at least this often
  const DEBOUNCE_MS = 1500; // after the version moved, wait for the burst to settle
  const MIN_GAP_MS = 5000; // and never refetch more often than this
  const QUEUES_EVERY_MS = 5 * 60 * 1000; // new or renamed queues show up
  const FIGURES = ["f-bottlenecks", "f-flow", "f-wait", "f-share", "f-counters", "f-accuracy"];
  const $ = function (id) { return document.getElementById(id); };

  const STATUS = {
    open: VQ.t("dashboard.status.open"),
    paused: VQ.t("dashboard.status.paused"),
    closed: VQ.t("dashboard.status.closed"),
  };
  const PRIORITY = {
    emergency: VQ.t("dashboard.priority.emergency"),
    urgent: VQ.t("dashboard.priority.urgent"),
    vip: VQ.t("dashboard.priority.vip"),
    normal: VQ.t("dashboard.priority.normal"),
  };

  let credential = null;
  let queues = []; // from ROUTES.queues
  let current = null; // the chosen queue's id
  let view = null; // its latest live view
  let source = null; // its live stream ({close()})
  let generation = 0; // bumps on every switch: late answers for an old queue are dropped
  let stopped = false; // the credential was refused: nothing more is asked with it

  function named(names, key) {
    return Object.prototype.hasOwnProperty.call(names, key) ? names[key] : String(key);
  }

  function route(name, queueId) {
    return ROUTES[name].replace("{queue_id}", encodeURIComponent(queueId || ""));
  }

  // ---- The page's credential -----------------------------------------------------------------

  function chooseCredential() {
    const kept = VQ.deviceKey("dashboard"); // keeps a #key= from this link first
    const query = new URLSearchParams(location.search).get("access_token");
    if (query) {
      return { kind: "key", forget: function () {},
        headers: async function () { return { Authorization: "Bearer " + query }; } };
    }
    if (VQ.fragment.key) return kept;
    if (VQ.session.current()) return VQ.session.credential;
    return kept;
  }

  // Refused: a kept key is forgotten (the next link brings another); a person signs in again.
  function refused() {
    stopped = true;
    if (credential && credential.forget) credential.forget();
    if (source) source.close();
    setLive("not_live");
    signInAgain(false);
  }

  // Where to go when the page has no working credential.
  function signInAgain(missing) {
    const sentence = missing ? VQ.t("dashboard.needs_credential")
      : VQ.t("dashboard.credential_ended");
    const parts = sentence.split("{admin}");
    const link = VQ.el("a", { href: "/admin#analytics" }, VQ.t("dashboard.admin_console"));
    notice("bad", parts[0], parts.length > 1 ? link : null, parts.slice(1).join(""));
  }

  function notice(kind) {
    const fatal = $("fatal");
    const nodes = Array.prototype.slice.call(arguments, 1).filter(function (n) { return n; });
    fatal.className = "notice " + kind;
    fatal.replaceChildren.apply(fatal, nodes);
    fatal.hidden = false;
  }

  function getJson(path, params) {
    const query = new URLSearchParams(params || {}).toString();
    return VQ.api(path + (query ? "?" + query : ""), { credential: credential });
  }

  function postJson(path, body) {
    return VQ.api(path, { method: "POST", body: body, credential: credential });
  }

  // ---- The live view ---------------------------------------------------------------------------

  // "live", "delayed" (connected, the views not keeping up: never shown as live) or not.
  function setLive(state) {
    $("live").className = state === "live" ? "on" : state === "delayed" ? "delayed" : "";
    $("live-text").textContent = VQ.t(state === "live" ? "dashboard.live"
      : state === "delayed" ? "dashboard.delayed" : "dashboard.not_live");
  }

  function waitingNote(q) {
    const classes = q.priority_classes.filter(function (p) { return q.waiting_by_priority[p]; });
    if (!classes.length) return VQ.t("dashboard.nobody_waiting");
    return classes.map(function (p) {
      return VQ.t("dashboard.by_priority", { count: f.num(q.waiting_by_priority[p]),
        priority: named(PRIORITY, p) });
    }).join(" · ");
  }

  function servingNote(q) {
    const counters = VQ.plural("dashboard.counters", q.counters.length,
      { count: f.num(q.counters.length) });
    if (!q.called) return counters;
    return VQ.plural("dashboard.called", q.called, { count: f.num(q.called) }) + " · " + counters;
  }

  function renderView(q) {
    view = q;
    document.title = VQ.t("dashboard.document_title", { name: q.name });
    const status = $("status");
    status.textContent = named(STATUS, q.status);
    status.className = "pill " + q.status;
    $("k-waiting").textContent = f.num(q.waiting);
    $("k-waiting-s").textContent = waitingNote(q);
    $("k-serving").textContent = f.num(q.serving);
    $("k-serving-s").textContent = servingNote(q);
    if (q.estimate) {
      $("k-wait").textContent = f.minutesRange(q.estimate.p10_seconds, q.estimate.p90_seconds);
      $("k-wait-s").textContent = VQ.t("dashboard.estimate_note", {
        median: f.minutesRange(q.estimate.p50_seconds, q.estimate.p50_seconds),
        ahead: f.num(q.estimate.ahead),
        estimator: D.figures.estimatorName(q.estimate.estimator) });
    } else {
      $("k-wait").textContent = "–";
      $("k-wait-s").textContent = q.waiting ? VQ.t("dashboard.no_estimate_yet")
        : VQ.t("dashboard.no_estimate_nobody");
    }
    tick();
  }

  function connect(mine) {
    if (source) source.close();
    let seen = view && view.queue_id === current ? view.version : null;
    source = VQ.follow(route("events", current), function (q, event) {
      if (mine !== generation || (event.type && event.type !== "queue")) return;
      setLive("live");
      renderView(q);
      if (seen !== null && q.version !== seen) refreshSoon();
      seen = q.version;
    }, {
      credential: credential,
      onState: function (state, failure) {
        if (mine !== generation) return;
        setLive(state);
        if (state !== "failed") return;
        if (failure.status === 401) refused();
        else notice("bad", VQ.t("dashboard.stream_failed", { reason: failure.text }));
      },
    });
  }

  // ---- Today's analytics and the accuracy figures --------------------------------------------

  let timer = null, lastRefresh = 0, running = null, again = false;

  function refreshSoon() {
    if (timer) return;
    const wait = Math.max(DEBOUNCE_MS, lastRefresh + MIN_GAP_MS - Date.now());
    timer = setTimeout(function () { timer = null; refresh(); }, wait);
  }

  function refresh() {
    if (stopped) return;
    if (running) { again = true; return; }
    lastRefresh = Date.now();
    running = refreshOnce().catch(function (e) {
      if (e instanceof VQ.Problem && e.status === 401) refused();
      else console.warn("dashboard refresh", e);
    }).finally(function () {
      running = null;
      if (again) { again = false; refreshSoon(); }
    });
  }

  async function refreshOnce() {
    const mine = generation, queueId = current;
    if (!queueId) return;
    await VQ.clock.ready;
    const q = view && view.queue_id === queueId ? view
      : queues.find(function (x) { return x.queue_id === queueId; });
    const tz = f.zoneOf(q), now = f.apiNow(), midnight = f.localMidnight(now, tz);
    const settled = await Promise.allSettled([
      getJson(route("analytics", queueId), { from: new Date(midnight).toISOString(), bucket: "15m" }),
      getJson(route("accuracy", queueId)),
      getJson(route("bottlenecks", queueId)),
    ]);
    if (mine !== generation) return;
    const analytics = settled[0];
    if (analytics.status === "rejected" && analytics.reason.status === 401) throw analytics.reason;
    if (analytics.status === "fulfilled") {
      D.figures.analytics(analytics.value, q, tz, now, midnight);
    } else {
      $("range").replaceChildren(VQ.el("span", { class: "error" },
        VQ.t("dashboard.analytics_failed", { reason: analytics.reason.text })));
    }
    D.figures.accuracy(settled[1]);
    D.figures.bottlenecks(settled[2]);
  }

  // ---- Choosing a queue ----------------------------------------------------------------------

  function wanted() {
    return new URLSearchParams(location.hash.slice(1)).get("queue");
  }

  function choose() {
    if (!queues.length) return;
    const asked = wanted();
    const id = queues.some(function (q) { return q.queue_id === asked; }) ? asked : queues[0].queue_id;
    $("queue").value = id;
    if (id === current) return;
    current = id;
    generation += 1;
    view = null;
    lastRefresh = 0; // the new queue's figures as soon as the old queue's fetch is done
    if (timer) { clearTimeout(timer); timer = null; }
    const listed = queues.find(function (q) { return q.queue_id === id; });
    if (listed) renderView(listed);
    FIGURES.forEach(function (id) { c.show(id, c.empty(VQ.t("common.loading"))); });
    $("today").replaceChildren();
    if (D.staffing) D.staffing.reset();
    connect(generation);
    refresh();
  }

  function showQueues() {
    $("fatal").hidden = queues.length > 0;
    if (!queues.length) notice("info", VQ.t("dashboard.no_queues"));
    $("status").hidden = !queues.length;
    $("main").hidden = !queues.length;
    const select = $("queue");
    select.replaceChildren.apply(select, queues.map(function (q) {
      return VQ.el("option", { value: q.queue_id }, q.name);
    }));
    select.disabled = !queues.length;
    if (!queues.length) select.append(VQ.el("option", {}, VQ.t("dashboard.no_queues_option")));
  }

  // At start, and every few minutes so that new or renamed queues show up.
  async function loadQueues(retry) {
    if (stopped) return;
    try {
      queues = (await getJson(ROUTES.queues)).queues;
    } catch (e) {
      if (e.status === 401) {
        refused();
        return;
      }
      notice("bad", VQ.t("dashboard.queues_failed", { reason: e.text }));
      if (retry) setTimeout(function () { loadQueues(true); }, 5000);
      return;
    }
    showQueues();
    choose();
  }

  function tick() {
    const tz = f.zoneOf(view);
    $("clock").textContent = VQ.t("dashboard.clock", { time: f.hhmm(f.apiNow(), tz), zone: tz });
  }

  async function start() {
    credential = chooseCredential();
    if (D.staffing) {
      D.staffing.attach({
        start: function (body) { return postJson(route("staffing", current), body); },
        plan: function (id) { return getJson(ROUTES.plan.replace("{plan_id}", encodeURIComponent(id))); },
      });
    }
    $("queue").addEventListener("change", function (e) {
      location.hash = "queue=" + encodeURIComponent(e.target.value);
    });
    window.addEventListener("hashchange", choose);
    window.addEventListener("vq:signed-out", function () {
      if (credential === VQ.session.credential) refused();
    });
    setInterval(tick, 10000);
    await VQ.clock.ready;
    tick();
    if (!credential) {
      setLive("not_live");
      signInAgain(true);
      return;
    }
    setInterval(refresh, REFRESH_MS);
    setInterval(function () { loadQueues(false); }, QUEUES_EVERY_MS);
    await loadQueues(true);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
