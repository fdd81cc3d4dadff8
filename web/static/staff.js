/* staff.js: the staff console. A person signs in (signin.js), picks a queue and a counter
 * (remembered on this device), and works the line: the waiting people, what is at each counter,
 * and the actions on the person at their counter (staff-actions.js). Everything is read from the
 * same API any client uses; the queue's live stream (SSE) keeps every console in step.
 *
 * staff-line.js draws, staff-actions.js acts, this file holds the state and the data flow.
 */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const CONSOLE_ROLES = ["staff", "manager", "admin"];
  const PAGE = 50;
  const DEBOUNCE_MS = 150;

  S.$ = $;
  S.state = {
    me: null,         // GET /v1/me
    queues: [],       // the queues this person may work (GET /v1/queues, their assignments)
    missed: [],       // no-shows marked here lately: [{ticket_id, number, at}] (return to line)
    place: null,      // {queue_id, counter, service_types}
    serves: [],       // the other queues this counter serves too (staff-multi.js)
    others: {},       // their views, by queue id (staff-multi.js)
    view: null,       // the queue's view (its newest version)
    line: null,       // {version, total, tickets}
    limit: PAGE,
    follow: null,
    generation: 0,    // bumped when the place or the person changes: late answers are dropped
  };
  const st = S.state;

  // ---- Messages -----------------------------------------------------------------------------

  // A refusal or a problem, in words (role=alert); extra nodes (buttons) may follow the text.
  S.alert = function (text, extra, tone) {
    const box = $("staff-message");
    box.replaceChildren();
    if (!text) return;
    box.append(VQ.el("div", { class: "notice " + (tone || "bad") },
      VQ.el("p", { text: text }), extra || null));
  };
  S.problem = function (problem, extra) {
    if (VQ.signin.refused(problem)) return;
    const detail = problem.detail && problem.status !== 0
      ? VQ.el("details", { class: "staff-detail" },
        VQ.el("summary", {}, VQ.t("staff.detail")), VQ.el("p", { text: problem.detail }))
      : null;
    S.alert(problem.text, [detail, extra || null]);
  };
  // What just happened, for screen readers (the screen shows it in place).
  S.status = function (text) {
    $("staff-status").textContent = text;
  };

  // My counter in the console's sentences: "called to counter 2", or "to Room 4" as it is named.
  S.counterLabel = function () {
    return VQ.counterLabel(st.place ? st.place.counter : "", "common.counter");
  };

  // ---- The place: queue and counter, remembered per device and organisation ---------------

  function placeKey() {
    return "vq.staff.place." + st.me.tenant_id;
  }

  function savedPlace() {
    try { return JSON.parse(VQ.store.get(placeKey())); } catch (e) { return null; }
  }

  S.savePlace = function () {
    VQ.store.set(placeKey(), JSON.stringify(st.place));
  };

  S.queueById = function (id) {
    return st.queues.find(function (q) { return q.queue_id === id; }) || null;
  };

  function usable(place) {
    const queue = place && S.queueById(place.queue_id);
    return Boolean(queue && queue.counters.indexOf(place.counter) >= 0);
  }

  function fillCounters(queue, chosen) {
    const select = $("staff-counter");
    select.replaceChildren();
    (queue ? queue.counters : []).forEach(function (counter) {
      select.append(VQ.el("option", { value: counter, selected: counter === chosen },
        VQ.counterLabel(counter, "staff.counter_named")));
    });
    if (S.fillServes) S.fillServes();
  }

  function showSetup(cancellable) {
    const queues = $("staff-queue");
    queues.replaceChildren();
    const current = st.place || savedPlace() || {};
    st.queues.forEach(function (q) {
      queues.append(VQ.el("option", { value: q.queue_id, selected: q.queue_id === current.queue_id },
        q.name));
    });
    fillCounters(S.queueById(queues.value), current.counter);
    $("staff-setup-cancel").hidden = !cancellable;
    $("staff-console").hidden = true;
    $("staff-where").hidden = true;
    $("staff-setup").hidden = false;
    queues.focus();
  }

  function chosePlace(event) {
    event.preventDefault();
    const queue = S.queueById($("staff-queue").value);
    const counter = $("staff-counter").value;
    if (!queue || !counter) return;
    const before = st.place || {};
    st.place = { queue_id: queue.queue_id, counter: counter,
      service_types: before.queue_id === queue.queue_id ? before.service_types || [] : [] };
    S.savePlace();
    if (S.keepServes) S.keepServes();
    $("staff-setup").hidden = true;
    work();
    $("staff-call-next").focus();
  }

  // ---- Reading: the view (live), the line (re-read on every new version) --------------------

  function applyView(view) {
    if (!view || (st.view && view.version < st.view.version)) return;
    const changed = !st.view || view.version !== st.view.version;
    st.view = view;
    S.drawView();
    if (changed) scheduleLine();
    if (changed && S.bookingsChanged) S.bookingsChanged();
  }
  S.applyView = applyView;

  let lineTimer = null;
  function scheduleLine() {
    clearTimeout(lineTimer);
    lineTimer = setTimeout(readLine, DEBOUNCE_MS);
  }

  async function readLine() {
    if (!st.place) return;
    const generation = st.generation;
    const queueId = st.place.queue_id;
    const version = st.view ? st.view.version : 0;
    try {
      const page = await VQ.api("/v1/queues/" + queueId + "/waiting?limit=" + st.limit +
        "&min_version=" + version + "&wait=5");
      if (generation !== st.generation) return;
      if (st.line && page.version < st.line.version) return;
      st.line = page;
      S.drawLine();
    } catch (problem) {
      if (generation !== st.generation) return;
      if (problem.code === "stale-read" || problem.status === 0) return; // the next version reads
      S.problem(problem);
    }
  }
  S.readLine = readLine;

  // After this console's own command: its write, without waiting for the stream (a command on
  // a ticket of another queue this counter serves: staff-multi.js reads that one).
  S.readYourWrite = async function (version, queueId) {
    if (!st.place) return;
    if (queueId && queueId !== st.place.queue_id) {
      if (S.readOther) S.readOther(queueId, version);
      return;
    }
    const generation = st.generation;
    try {
      const view = await VQ.api("/v1/queues/" + st.place.queue_id + "?min_version=" + version +
        "&wait=5");
      if (generation === st.generation) applyView(view);
    } catch (e) { /* the stream brings it */ }
  };

  S.moreLine = function () {
    st.limit += PAGE;
    readLine();
  };

  function follow() {
    if (st.follow) st.follow.close();
    const generation = st.generation;
    st.follow = VQ.follow("/v1/queues/" + st.place.queue_id + "/events", function (view) {
      if (generation === st.generation) applyView(view);
    }, {
      onState: function (what, problem) {
        document.body.classList.toggle("staff-live", what === "live");
        if (what === "failed" && problem && generation === st.generation) S.problem(problem);
      },
    });
  }

  // ---- Working at a place -------------------------------------------------------------------

  function work() {
    st.generation += 1;
    st.missed = [];
    st.view = null;
    st.line = null;
    st.limit = PAGE;
    const queue = S.queueById(st.place.queue_id);
    $("staff-where-queue").textContent = queue.name;
    $("staff-where-counter").textContent = VQ.counterLabel(st.place.counter,
      "staff.counter_named");
    $("staff-where").hidden = false;
    $("staff-console").hidden = false;
    $("staff-setup").hidden = true;
    S.alert(null);
    if (S.startMulti) S.startMulti();
    S.drawView();
    S.drawLine();
    if (S.startBookings) S.startBookings();
    follow();
  }

  async function loadQueues() {
    const listed = await VQ.api("/v1/queues");
    const mine = st.me.queues;
    st.queues = listed.queues.filter(function (q) {
      return mine === null || mine === undefined || mine.indexOf(q.queue_id) >= 0;
    }).sort(function (a, b) { return a.name.localeCompare(b.name, VQ.lang); });
  }

  // The organisation's name beside the person's (its id as the tooltip): someone who works for
  // two organisations sees which one this console is signed in to.
  function showOrganisation(org) {
    let node = $("staff-org");
    if (!node) {
      node = VQ.el("span", { id: "staff-org", class: "staff-org" });
      $("staff-name").after(node);
    }
    node.replaceChildren();
    node.removeAttribute("title");
    if (!org || !org.name) return;
    node.title = VQ.t("staff.org_id", { id: org.tenant_id });
    node.append(VQ.el("span", { "aria-hidden": "true" }, " · "),
      VQ.el("span", { class: "visually-hidden" }, " " + VQ.t("staff.org_at") + " "), org.name);
  }

  async function start(session) {
    const generation = ++st.generation;
    try {
      st.me = await VQ.api("/v1/me");
      st.me.tenant_id = session.tenant_id;
    } catch (problem) {
      if (!VQ.signin.refused(problem)) S.problem(problem);
      return;
    }
    if (generation !== st.generation) return;
    $("staff-name").textContent = st.me.name;
    showOrganisation(st.me.organisation);
    $("staff-signout").replaceChildren(VQ.signin.signOutButton());
    $("staff-who").hidden = false;
    if (CONSOLE_ROLES.indexOf(st.me.role) < 0) {
      S.alert(VQ.t("staff.not_allowed"), null, "warn");
      return;
    }
    try {
      await loadQueues();
    } catch (problem) {
      S.problem(problem);
      return;
    }
    if (!st.queues.length) {
      S.alert(VQ.t("staff.no_queues"), null, "warn");
      return;
    }
    const saved = savedPlace();
    if (usable(saved)) {
      st.place = saved;
      work();
    } else if (st.queues.length === 1 && st.queues[0].counters.length === 1) {
      st.place = { queue_id: st.queues[0].queue_id, counter: st.queues[0].counters[0],
        service_types: [] };
      S.savePlace();
      work();
    } else {
      showSetup(false);
    }
  }

  function stop() {
    st.generation += 1;
    clearTimeout(lineTimer);
    if (st.follow) st.follow.close();
    st.follow = null;
    st.me = null;
    st.place = null;
    st.view = null;
    st.line = null;
    ["staff-console", "staff-setup", "staff-where", "staff-who"].forEach(function (id) {
      $(id).hidden = true;
    });
    $("staff-signout").replaceChildren();
    showOrganisation(null);
    if (S.stopBookings) S.stopBookings();
    if (S.stopMulti) S.stopMulti();
    S.alert(null);
    if (S.closeDialogs) S.closeDialogs();
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("staff-setup-form").addEventListener("submit", chosePlace);
    $("staff-queue").addEventListener("change", function () {
      fillCounters(S.queueById($("staff-queue").value), null);
    });
    $("staff-change").addEventListener("click", function () { showSetup(true); });
    $("staff-setup-cancel").addEventListener("click", function () {
      $("staff-setup").hidden = true;
      $("staff-console").hidden = false;
      $("staff-where").hidden = false;
      $("staff-change").focus();
    });
    $("staff-line-more").addEventListener("click", S.moreLine);
    // The waits move with the clock (the API's: VQ.now()), not only with events.
    function redraw() {
      if (!st.place || $("staff-console").hidden) return;
      S.drawView();
      S.drawLine();
    }
    setInterval(redraw, 30000);
    VQ.clock.listen(redraw);
    if (S.setUpActions) S.setUpActions();
    if (S.setUpBreaks) S.setUpBreaks();
    if (S.setUpQueueDay) S.setUpQueueDay();
    VQ.signin.require(start, { onSignedOut: stop });
  });
})();
