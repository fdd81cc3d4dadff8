/* board.js: a queue's board for a screen (/board/<queue id>#key=... or ?access_token=...).
 *
 * The page holds no data of its own: the queue's stream (GET /v1/queues/<id>/events, followed
 * with the key as a header) sends the whole view after every change, so a reconnect is all
 * recovery takes. Who is at each counter (a newly called number flashes), the next in line
 * (as many as fit; the rest counted), and the queue's figures. Numbers and times are written
 * the page language's way.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const EVENTS = "/v1/queues/{queue_id}/events";
  const $ = function (id) { return document.getElementById(id); };

  const shown = {}; // counter -> ticket id shown there, to flash a newly called number
  let drawn = false; // nothing flashes on the first view: nothing was just called
  let last = null; // the newest view, drawn again when the screen changes size
  const count = new Intl.NumberFormat(VQ.lang);
  const clock = new Intl.DateTimeFormat(VQ.lang, { hour: "2-digit", minute: "2-digit" });

  // The names the product gives; a queue's own (its classes, a new total) are shown as they are.
  const STATUS = {
    open: VQ.t("board.status.open"),
    paused: VQ.t("board.status.paused"),
    closed: VQ.t("board.status.closed"),
  };
  const PRIORITY = {
    emergency: VQ.t("board.priority.emergency"),
    urgent: VQ.t("board.priority.urgent"),
    vip: VQ.t("board.priority.vip"),
    normal: VQ.t("board.priority.normal"),
  };
  const TOTAL = {
    arrived: VQ.t("board.total.arrived"),
    served: VQ.t("board.total.served"),
    no_show: VQ.t("board.total.no_show"),
    cancelled: VQ.t("board.total.cancelled"),
    transferred: VQ.t("board.total.transferred"),
  };

  function named(names, key) {
    return Object.prototype.hasOwnProperty.call(names, key) ? names[key] : String(key);
  }

  function problem(text) {
    $("board-problem").textContent = text;
    $("board-problem").hidden = false;
  }

  // A class the stylesheet knows (a queue's own class names are free text).
  function priorityClass(name) {
    return "prio " + (Object.prototype.hasOwnProperty.call(PRIORITY, name) ? name : "other");
  }

  function minutes(low, high) {
    const a = Math.round(low / 60);
    const b = Math.max(Math.round(high / 60), 1);
    return a >= b ? VQ.t("board.about_minutes", { n: count.format(b) })
      : VQ.t("common.minute_range", { low: count.format(a), high: count.format(b) });
  }

  // ---- Drawing a view ----------------------------------------------------------------------

  // A free counter whose staff are on a break: when it is back.
  function away(q, counter) {
    const back = VQ.backAt(q, counter);
    return back ? VQ.t("board.back_at", { time: back }) : "";
  }

  function drawServing(q) {
    const byCounter = {};
    q.now_serving.forEach(function (s) { byCounter[s.counter] = s; });
    // The queue's counters, and any other a ticket was called to (a counter since removed).
    const counters = q.counters.concat(Object.keys(byCounter).filter(function (c) {
      return q.counters.indexOf(c) < 0;
    }));
    const serving = $("serving");
    const cols = Math.max(1, Math.ceil(Math.sqrt(counters.length)));
    serving.style.setProperty("--cols", String(cols));
    serving.style.setProperty("--rows", String(Math.max(1, Math.ceil(counters.length / cols))));
    serving.replaceChildren.apply(serving, counters.map(function (counter) {
      const s = byCounter[counter];
      const card = VQ.el("li", { class: "counter" + (s ? "" : " idle"), dataset: { counter: counter } },
        VQ.el("span", { class: "label" }, VQ.counterLabel(counter, "board.counter")),
        VQ.el("span", { class: "number" }, s ? s.number : VQ.t("board.free")),
        VQ.el("span", { class: "state" }, !s ? away(q, counter) : s.status === "called"
          ? VQ.t("board.please_come") : VQ.t("board.being_served")));
      if (drawn && s && shown[counter] !== s.ticket_id) card.classList.add("flash");
      shown[counter] = s ? s.ticket_id : null;
      return card;
    }));
  }

  function drawNext(q) {
    const next = $("next");
    next.replaceChildren.apply(next, q.next.map(function (n) {
      return VQ.el("li", { class: "ticket" },
        VQ.el("span", { class: "pos" }, count.format(n.position)),
        VQ.el("span", { class: "num" }, n.number),
        VQ.el("span", { class: priorityClass(n.priority) }, named(PRIORITY, n.priority)));
    }));
    if (!q.next.length) next.append(VQ.el("li", { class: "empty" }, VQ.t("board.nobody_waiting")));
    // A short screen shows fewer: drop the rows that do not fit whole and count them as "more".
    const bottom = next.getBoundingClientRect().bottom;
    let rows = q.next.length;
    while (rows > 1 && next.lastChild.getBoundingClientRect().bottom > bottom + 1) {
      next.lastChild.remove();
      rows -= 1;
    }
    const more = q.waiting - rows;
    $("more").textContent = more > 0
      ? VQ.plural("board.more_waiting", more, { count: count.format(more) }) : "";
  }

  function group(entries) {
    return VQ.el("dl", { class: "group" }, entries.map(function (entry) {
      return VQ.el("div", { class: "stat " + (entry[2] || "") },
        VQ.el("dt", { class: "k" }, entry[0]), VQ.el("dd", { class: "v" }, entry[1]));
    }));
  }

  function drawStats(q) {
    const groups = [group([
      [VQ.t("board.waiting"), count.format(q.waiting)],
      [VQ.t("board.called"), count.format(q.called)],
      [VQ.t("board.serving"), count.format(q.serving)],
    ])];
    // The range one who joins now would wait (P10..P90), as the queue's estimators see it.
    if (q.estimate) {
      groups.push(group([[VQ.t("board.wait_if_you_join"),
        minutes(q.estimate.p10_seconds, q.estimate.p90_seconds)]]));
    }
    groups.push(group(q.priority_classes.map(function (p) {
      return [named(PRIORITY, p), count.format(q.waiting_by_priority[p] || 0),
        "prio-stat " + priorityClass(p).split(" ")[1]];
    })));
    groups.push(group(Object.entries(q.totals).map(function (entry) {
      return [named(TOTAL, entry[0]), count.format(entry[1])];
    })));
    $("stats").replaceChildren.apply($("stats"), groups);
  }

  let turn = null; // a break's start or end: drawn again then (no event says so)

  function draw(q) {
    turn = VQ.atBreakTurn(q, turn, function () { if (last) draw(last); });
    document.title = VQ.t("board.document_title", { name: q.name });
    $("name").textContent = q.name;
    const status = $("status");
    status.hidden = false;
    status.textContent = named(STATUS, q.status);
    status.className = "pill " + q.status;
    drawServing(q);
    drawNext(q);
    drawStats(q);
    drawn = true;
  }

  // ---- Following the queue -----------------------------------------------------------------

  // "live", "delayed" (connected, the views not keeping up: never shown as live) or not.
  function setLive(state) {
    $("live").className = state === "live" ? "on" : state === "delayed" ? "delayed" : "";
    $("live-text").textContent = VQ.t(state === "live" ? "board.live"
      : state === "delayed" ? "board.delayed" : "board.reconnecting");
  }

  // The key: in the link's query (as board links always had it), else from #key=... (kept by
  // this browser). Sent as a header either way, never in the stream's address.
  function credential() {
    const kept = VQ.deviceKey("board");
    const query = new URLSearchParams(location.search).get("access_token");
    if (!query) return kept;
    return {
      kind: "key",
      headers: async function () { return { Authorization: "Bearer " + query }; },
      forget: function () {},
    };
  }

  function follow(queueId, key) {
    const path = EVENTS.replace("{queue_id}", encodeURIComponent(queueId));
    VQ.follow(path, function (view, event) {
      if (event.type && event.type !== "queue") return;
      $("board-problem").hidden = true;
      last = view;
      draw(view);
    }, {
      credential: key,
      onState: function (state, failure) {
        setLive(state);
        if (state !== "failed") return;
        if (failure.status === 401) {
          key.forget();
          problem(VQ.t("common.key_refused"));
        } else if (failure.status === 404) problem(VQ.t("board.queue_missing"));
        else problem(failure.text);
      },
    });
  }

  function tick() {
    const now = new Date(VQ.now());
    $("clock").textContent = clock.format(now);
    $("clock").setAttribute("datetime", now.toISOString());
  }

  function start() {
    tick();
    setInterval(tick, 10000);
    // The API's time as soon as it answers, and on each answer (a demo's is on another day).
    VQ.clock.ready.then(tick);
    VQ.clock.listen(tick);
    window.addEventListener("resize", function () { if (last) draw(last); });
    const key = credential();
    if (!key) {
      setLive("reconnecting");
      $("name").textContent = VQ.t("board.title");
      problem(VQ.t("common.no_key"));
      return;
    }
    follow(VQ.config.queue_id, key);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
