/* display.js: a lobby display (/display#key=...): several queues at once, each call shown big
 * and spoken.
 *
 * The queues are `?queues=<id>,<id>` or, without it, every queue the display key can read. Each
 * is followed live (GET /v1/queues/<id>/events): who is at each counter and the next few in line.
 * A ticket newly called at a counter flashes on the whole screen for a few seconds ("A012 ->
 * counter 2"), joins the list of the last calls, and is said aloud after a chime in the page's
 * language. Browsers play no sound before a gesture: "Start sound" is that gesture (a screen
 * started with an autoplay policy that allows sound needs none).
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const t = VQ.t;
  const FLASH_MS = 6000;
  const SPEAK_AFTER_MS = 700; // after the chime
  const RECENT = 5;
  const MAX_QUEUES = 12;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  const $ = function (id) { return document.getElementById(id); };

  const boards = new Map(); // queue id -> {panel, view, atCounter, state}
  const calls = []; // waiting to be flashed
  let flashing = false;

  function problem(text) {
    $("display-problem").textContent = text;
    $("display-problem").hidden = false;
  }

  // "A-012" -> "A 0 1 2": a speech engine then says each sign, not "a thousand and twelve".
  function spelled(number) {
    return String(number).replace(/[^0-9A-Za-z]/g, "").split("").join(" ");
  }

  // ---- A queue's panel --------------------------------------------------------------------

  function panelFor(queueId) {
    const name = VQ.el("h2", { id: "queue-" + queueId, class: "queue-name" }, t("display.connecting"));
    const panel = VQ.el("section", {
      class: "queue", "aria-labelledby": "queue-" + queueId, dataset: { queue: queueId },
    }, VQ.el("div", { class: "queue-head" }, name,
      VQ.el("span", { class: "pill", hidden: true }),
      VQ.el("span", { class: "waiting-count" })),
    VQ.el("div", { class: "queue-body" },
      VQ.el("div", { class: "serving" },
        VQ.el("h3", { class: "visually-hidden" }, t("display.counters")),
        VQ.el("ul", { class: "counters" })),
      VQ.el("div", { class: "next" },
        VQ.el("h3", { class: "next-title" }, t("display.next")),
        VQ.el("ol", { class: "next-list" }),
        VQ.el("p", { class: "more" }))));
    $("queues").append(panel);
    return panel;
  }

  function nextShown() {
    return boards.size > 4 ? 3 : boards.size > 2 ? 4 : 6;
  }

  // A free counter whose staff are on a break: when it is back.
  function away(view, counter) {
    const back = VQ.backAt(view, counter);
    return back ? t("display.back_at", { time: back }) : "";
  }

  function drawCounters(panel, view) {
    const byCounter = {};
    view.now_serving.forEach(function (s) { byCounter[s.counter] = s; });
    // The queue's counters, and any other a ticket was called to (a counter since removed).
    const counters = view.counters.concat(Object.keys(byCounter).filter(function (c) {
      return view.counters.indexOf(c) < 0;
    }));
    panel.querySelector(".counters").replaceChildren.apply(
      panel.querySelector(".counters"), counters.map(function (counter) {
        const at = byCounter[counter];
        const state = !at ? "free" : at.status === "called" ? "called" : "serving";
        return VQ.el("li", { class: "counter " + state, dataset: { counter: counter } },
          VQ.el("span", { class: "counter-label" }, VQ.counterLabel(counter, "display.counter")),
          VQ.el("span", { class: "counter-number" }, at ? at.number : t("display.free")),
          VQ.el("span", { class: "counter-state" }, state === "called" ? t("display.please_come")
            : state === "serving" ? t("display.being_served") : away(view, counter)));
      }));
  }

  function drawNext(panel, view) {
    const shown = view.next.slice(0, nextShown());
    const list = panel.querySelector(".next-list");
    list.replaceChildren.apply(list, shown.map(function (n) {
      return VQ.el("li", { class: "next-number" }, n.number);
    }));
    if (!shown.length) list.append(VQ.el("li", { class: "nobody" }, t("display.nobody_waiting")));
    const more = view.waiting - shown.length;
    panel.querySelector(".more").textContent = more > 0 ? VQ.plural("display.more_waiting", more) : "";
  }

  function draw(board) {
    const view = board.view;
    // A break's start or end: drawn again then (no event says so).
    board.turn = VQ.atBreakTurn(view, board.turn, function () { draw(board); });
    const panel = board.panel;
    panel.querySelector(".queue-name").textContent = view.name;
    const pill = panel.querySelector(".pill");
    pill.hidden = view.status === "open";
    pill.className = "pill " + view.status;
    pill.textContent = view.status === "paused" ? t("display.paused")
      : view.status === "closed" ? t("display.closed") : "";
    panel.querySelector(".waiting-count").textContent = VQ.plural("display.waiting", view.waiting);
    drawCounters(panel, view);
    drawNext(panel, view);
    fit(panel);
  }

  // ---- Fitting a panel in its share of the screen ------------------------------------------

  // A display is there to show who is called: every counter's number whole, however many
  // queues share the screen and counters a queue has. A panel too full for its share first
  // shrinks (--fit scales display.css's sizes, and smaller cards sit more to a row), then
  // leaves out its free counters; the first of these that fits is kept.
  const FITS = [1, 0.9, 0.8, 0.7, 0.6];

  function overflowing(panel) {
    if (panel.scrollHeight > panel.clientHeight + 1 || panel.scrollWidth > panel.clientWidth + 1) {
      return true;
    }
    return Array.prototype.some.call(panel.querySelectorAll(".counter-number"), function (n) {
      return n.scrollWidth > n.clientWidth + 1; // a number cut to "R-0…"
    });
  }

  function fit(panel) {
    [false, true].some(function (crowded) {
      panel.classList.toggle("crowded", crowded);
      return FITS.some(function (scale) {
        panel.style.setProperty("--fit", String(scale));
        return !overflowing(panel);
      });
    });
  }

  // ---- Calls: what is new at a counter -----------------------------------------------------

  // A call at a counter: the ticket, and how often it was called (a recall is a new call, when
  // the view says so).
  function callOf(s) {
    return s.ticket_id + "|" + (s.recall_count === undefined ? "" : s.recall_count);
  }

  function onView(board, view) {
    const before = board.atCounter;
    const now = {};
    view.now_serving.forEach(function (s) { now[s.counter] = callOf(s); });
    if (before !== null) {
      view.now_serving.forEach(function (s) {
        if (s.status === "called" && before[s.counter] !== callOf(s)) {
          announce({ number: s.number, counter: s.counter, queue: view.name, at: VQ.now() });
        }
      });
    }
    board.atCounter = now; // the first view only says where things are: nothing was just called
    board.view = view;
    draw(board);
  }

  function announce(call) {
    remember(call);
    calls.push(call);
    if (!flashing) flashNext();
  }

  function flashNext() {
    const call = calls.shift();
    const flash = $("flash");
    if (!call) {
      flashing = false;
      flash.hidden = true;
      return;
    }
    flashing = true;
    $("flash-number").textContent = call.number;
    $("flash-counter").textContent = VQ.counterLabel(call.counter, "display.flash_counter");
    $("flash-queue").textContent = boards.size > 1 ? call.queue : "";
    flash.hidden = false;
    VQ.chime();
    setTimeout(function () {
      VQ.speak(t("display.say_call", { number: spelled(call.number),
        counter: VQ.counterLabel(call.counter, "common.counter") }), VQ.lang);
    }, SPEAK_AFTER_MS);
    setTimeout(flashNext, FLASH_MS);
  }

  function remember(call) {
    const list = $("recent");
    const time = new Date(call.at).toLocaleTimeString(VQ.lang, { hour: "2-digit", minute: "2-digit" });
    list.prepend(VQ.el("li", { class: "recent-call" },
      VQ.el("span", { class: "recent-number" }, call.number),
      VQ.el("span", { class: "recent-counter" }, VQ.counterLabel(call.counter, "display.flash_counter")),
      VQ.el("span", { class: "recent-meta" }, (boards.size > 1 ? call.queue + " · " : "") + time)));
    while (list.children.length > RECENT) list.lastChild.remove();
    $("recent-none").hidden = true;
  }

  // ---- Following the queues ----------------------------------------------------------------

  function liveness() {
    const states = Array.from(boards.values(), function (b) { return b.state; });
    const live = states.length > 0 && states.every(function (s) { return s === "live"; });
    const node = $("live");
    node.dataset.state = live ? "live" : states.some(function (s) { return s === "connecting"; })
      ? "connecting" : "offline";
    node.textContent = live ? t("display.live")
      : node.dataset.state === "connecting" ? t("display.connecting") : t("display.offline");
  }

  function follow(queueId) {
    const board = { panel: panelFor(queueId), view: null, atCounter: null, state: "connecting" };
    boards.set(queueId, board);
    VQ.follow("/v1/queues/" + encodeURIComponent(queueId) + "/events", function (view) {
      onView(board, view);
    }, {
      onState: function (state, failure) {
        board.state = state;
        board.panel.classList.toggle("stale", state !== "live");
        liveness();
        if (state !== "failed") return;
        if (failure.status === 401) problem(t("common.key_refused"));
        else if (failure.status === 404) {
          board.panel.querySelector(".queue-name").textContent = t("display.queue_missing");
        } else problem(failure.text);
      },
    });
  }

  async function queueIds() {
    const asked = new URLSearchParams(location.search).get("queues");
    if (asked) {
      return Array.from(new Set(asked.split(",").map(function (s) { return s.trim(); })
        .filter(function (s) { return UUID.test(s); })));
    }
    const listed = await VQ.api("/v1/queues");
    return listed.queues.map(function (q) { return q.queue_id; });
  }

  function tick() {
    const now = new Date(VQ.now());
    $("clock").textContent = now.toLocaleTimeString(VQ.lang, { hour: "2-digit", minute: "2-digit" });
    $("clock").setAttribute("datetime", now.toISOString());
    $("date").textContent = now.toLocaleDateString(VQ.lang, { weekday: "long", day: "numeric", month: "long" });
  }

  async function start() {
    tick();
    setInterval(tick, 5000);
    // The API's time as soon as it answers, and on each answer (a demo's is on another day).
    VQ.clock.ready.then(tick);
    VQ.clock.listen(tick);
    const button = $("start-sound");
    button.addEventListener("click", function () {
      VQ.chime();
      VQ.speak(t("display.sound_on"), VQ.lang);
      button.hidden = true;
    });
    VQ.credential = VQ.deviceKey("display");
    if (!VQ.credential) {
      problem(t("common.no_key"));
      return;
    }
    let ids;
    for (let attempt = 0; !ids; attempt++) {
      try {
        ids = (await queueIds()).slice(0, MAX_QUEUES);
      } catch (failure) {
        if (!failure.retryable) {
          problem(failure.status === 401 ? t("common.key_refused") : failure.text);
          return;
        }
        await VQ.sleep(Math.min(30000, 1000 * Math.pow(2, attempt))); // a screen waits it out
      }
    }
    if (!ids.length) {
      problem(t("display.no_queues"));
      return;
    }
    $("queues").style.setProperty("--columns", String(ids.length > 4 ? 3 : ids.length > 1 ? 2 : 1));
    ids.forEach(follow);
    window.addEventListener("resize", function () {
      boards.forEach(function (board) { if (board.view) draw(board); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
