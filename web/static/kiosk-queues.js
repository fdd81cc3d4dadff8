/* kiosk-queues.js: the kiosk's start screen (loaded before kiosk-ticket.js and kiosk.js).
 *
 * The organisation's queues as cards, refreshed every 15 s while the API answers (every 3 s
 * while it does not) and updated in place; what a newcomer would meet in each (closed, full,
 * outside its opening hours when the view gives them, paused, open), the people waiting and the
 * wait. Opening hours are judged on the API's clock (VQ.now(): a demo's may be on another day, a
 * kiosk PC's may drift), never on the browser's. Reads the page's state through window.VQKiosk
 * (kiosk.js).
 *
 * window.VQKiosk: loadQueues(), askQueue(id), queueById(id), queueState(queue), hoursText(queue)
 */
(function () {
  "use strict";

  const K = (window.VQKiosk = window.VQKiosk || {});
  const $ = function (id) { return document.getElementById(id); };
  const REFRESH_MS = 15000; // the queue list, while it answers
  const RETRY_MS = 3000; // ... and while it does not
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  // ---- The queues --------------------------------------------------------------------------

  async function loadQueues() {
    const state = K.state;
    if (state.loading || state.blocked) return;
    state.loading = true;
    clearTimeout(state.refreshTimer);
    let next = RETRY_MS;
    try {
      const data = await VQ.api("/v1/queues");
      state.queues = (data && Array.isArray(data.queues)) ? data.queues : [];
      state.loaded = true;
      next = REFRESH_MS;
      renderQueues();
      if (state.screen === "loading") K.show("start");
      K.resume();
    } catch (problem) {
      if (K.refusedKey(problem)) return;
      if (!state.loaded) {
        if (state.screen === "loading") K.show("start");
        $("queues-status").textContent = problem.status === 0 ? VQ.t("kiosk.connecting") : problem.text;
      }
    } finally {
      state.loading = false;
    }
    if (!state.blocked) state.refreshTimer = setTimeout(loadQueues, next);
  }
  window.addEventListener("online", function () { loadQueues(); });
  VQ.clock.listen(function () { if (K.state && K.state.loaded) renderQueues(); });

  // The queue as the API sees it now (the list read again, the API's clock asked again), or null
  // when the API could not be asked: before a person is turned away, never on old news.
  async function askQueue(id) {
    const state = K.state;
    try {
      const found = await Promise.all([VQ.api("/v1/queues", { timeout: 5000 }), VQ.clock.sync()]);
      if (found[0] && Array.isArray(found[0].queues)) {
        state.queues = found[0].queues;
        renderQueues();
      }
      return queueById(id);
    } catch (problem) {
      if (K.refusedKey(problem)) throw problem;
      return null;
    }
  }

  function queueById(id) {
    return K.state.queues.find(function (q) { return q.queue_id === id; }) || null;
  }

  // What a newcomer would meet: closed, full, outside its hours (when the view gives them),
  // paused (joining still works), or open.
  function queueState(queue) {
    if (queue.status === "closed") return "closed";
    if (queue.capacity !== null && queue.capacity !== undefined && queue.waiting >= queue.capacity) {
      return "full";
    }
    if (!queue.allow_outside_hours && openNow(queue) === false) return "outside_hours";
    return queue.status === "paused" ? "paused" : "open";
  }

  function stateText(name) {
    switch (name) {
      case "closed": return VQ.t("kiosk.state_closed");
      case "full": return VQ.t("kiosk.state_full");
      case "outside_hours": return VQ.t("kiosk.state_outside_hours");
      case "paused": return VQ.t("kiosk.state_paused");
      default: return VQ.t("kiosk.state_open");
    }
  }

  function minutesRange(estimate) {
    const low = Math.floor(estimate.p10_seconds / 60);
    const high = Math.ceil(estimate.p90_seconds / 60);
    if (high <= 1) return VQ.t("common.less_than_a_minute");
    if (low >= high) return VQ.t("common.minutes", { n: high });
    return VQ.t("common.minute_range", { low: low, high: high });
  }

  function queueFacts(queue) {
    const facts = [queue.waiting > 0 ? VQ.plural("kiosk.waiting_count", queue.waiting)
      : VQ.t("kiosk.nobody_waiting")];
    if (queue.estimate && queue.waiting > 0) {
      facts.push(VQ.t("kiosk.wait_short", { range: minutesRange(queue.estimate) }));
    }
    return facts.join(" · ");
  }

  function newCard(queueId) {
    return VQ.el("li", { dataset: { queue: queueId } },
      VQ.el("button", {
        type: "button", class: "queue-card", dataset: { queue: queueId },
        onclick: function () { K.pick(queueId); },
      },
      VQ.el("span", { class: "queue-name" }),
      VQ.el("span", { class: "queue-state" }),
      VQ.el("span", { class: "queue-facts" })));
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // Cards are updated in place (never replaced): a refresh between a finger's down and up must
  // not swallow the touch, nor move the keyboard's focus.
  function renderQueues() {
    const state = K.state;
    const list = $("queues");
    const existing = new Map(Array.from(list.children).map(function (li) { return [li.dataset.queue, li]; }));
    state.queues.forEach(function (queue, index) {
      const item = existing.get(queue.queue_id) || newCard(queue.queue_id);
      const button = item.firstElementChild;
      const name = queueState(queue);
      button.className = "queue-card state-" + name;
      setText(button.querySelector(".queue-name"), queue.name);
      const badge = button.querySelector(".queue-state");
      badge.className = "queue-state badge-" + name;
      setText(badge, stateText(name));
      setText(button.querySelector(".queue-facts"), queueFacts(queue));
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    while (list.children.length > state.queues.length) list.lastElementChild.remove();
    $("queues-status").textContent = state.queues.length ? "" : VQ.t("kiosk.no_queues");
  }

  // ---- Opening hours (when the queue's view gives them) --------------------------------------

  function localNow(zone) {
    try {
      const parts = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone || "UTC", weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      }).formatToParts(new Date(VQ.now()));
      const part = function (type) { return (parts.find(function (p) { return p.type === type; }) || {}).value; };
      return { weekday: WEEKDAYS.indexOf(part("weekday")), time: part("hour") + ":" + part("minute") };
    } catch (e) {
      return null;
    }
  }

  function hoursToday(queue) {
    if (!Array.isArray(queue.opening_hours) || !queue.opening_hours.length) return null;
    const now = localNow(queue.timezone);
    if (!now || now.weekday < 0) return null;
    return {
      now: now.time,
      intervals: queue.opening_hours.filter(function (h) { return h.weekday === now.weekday; })
        .sort(function (a, b) { return a.opens < b.opens ? -1 : 1; }),
    };
  }

  function openNow(queue) {
    const today = hoursToday(queue);
    if (!today) return null; // unknown (or open around the clock)
    return today.intervals.some(function (h) { return h.opens <= today.now && today.now < h.closes; });
  }

  function hoursText(queue) {
    const today = queue && hoursToday(queue);
    if (!today) return "";
    if (!today.intervals.length) return VQ.t("kiosk.hours_none_today");
    const spans = today.intervals.map(function (h) { return h.opens + "–" + h.closes; });
    return VQ.t("kiosk.hours_today", { hours: spans.join(", ") });
  }

  K.loadQueues = loadQueues;
  K.askQueue = askQueue;
  K.queueById = queueById;
  K.queueState = queueState;
  K.hoursText = hoursText;
})();
