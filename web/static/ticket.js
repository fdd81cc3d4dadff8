/* ticket.js: a customer's own ticket (/t/<id>, opened from its QR code with #token=...).
 *
 * The ticket's live view comes from GET /v1/tickets/<id>/events (SSE, with the ticket's token as
 * X-Ticket-Token): its status, place in line and wait range, as the line moves. The last view is
 * kept in localStorage, so a reload without a connection still shows it (the service worker keeps
 * the page itself) with the time it was current. Being called rings, vibrates, is announced to
 * screen readers and shows in the tab's title. The person can cancel their place and be told
 * by email, text message or web push (ticket-notify.js, loaded before this file:
 * window.VQTicket.setUpNotify), and see and delete the details held about them
 * (ticket-privacy.js: window.VQTicket.setUpDetails).
 *
 * The first stream of a device that never saw the ticket asks the read side to wait for it
 * (min_version=1: a ticket taken a moment ago), so that a 404 means what it says.
 * A booking not checked in yet has no ticket (the stream is a 404): then the page shows the
 * booking (ticket-booking.js: window.VQTicket.showBooking), and after its check-in follows the
 * ticket of the same id with the same token.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const T = window.VQTicket; // ticket-notify.js
  const t = VQ.t;
  const ticketId = VQ.config.ticket_id;
  const base = "/v1/tickets/" + encodeURIComponent(ticketId);
  const SAVED = "vq.ticketview." + ticketId;
  const SWITCHED = "vq.ticketlang." + ticketId;
  const FINAL = ["served", "cancelled"];
  const TICK_MS = 20000;
  const FORGET_AFTER_MS = 30 * 24 * 3600 * 1000;

  const $ = function (id) { return document.getElementById(id); };

  // What this browser knows of the ticket: its last view and when it came, the queue it was
  // first seen in (to tell a move), and the call it last rang for (to ring once per call).
  let memory = load();
  let live = false;
  let stream = null;
  let bookingLooks = 0; // how often a checked-in booking's ticket was looked for
  let wanted; // the min_version the stream was last asked for (undefined: none)
  let ticketLooks = 0; // how often it was asked again, the read side behind (a 409)
  const TICKET_LOOKS = 8;
  let leaving = false; // the page is being replaced by itself in the ticket's language

  function load() {
    try {
      return JSON.parse(VQ.store.get(SAVED)) || {};
    } catch (e) {
      return {};
    }
  }

  // What this browser kept of tickets long over (their views, tokens, language switches).
  function forgetOldTickets() {
    const monthAgo = Date.now() - FORGET_AFTER_MS;
    try {
      Object.keys(localStorage).forEach(function (name) {
        const match = /^vq\.ticketview\.(.+)$/.exec(name);
        if (!match || match[1] === ticketId) return;
        let at = 0;
        try { at = JSON.parse(localStorage.getItem(name)).at || 0; } catch (e) { /* forget it */ }
        if (at < monthAgo) {
          ["vq.ticketview.", "vq.ticketlang.", "vq.ticket."].forEach(function (prefix) {
            localStorage.removeItem(prefix + match[1]);
          });
        }
      });
    } catch (e) { /* no storage: nothing kept */ }
  }

  function save() {
    VQ.store.set(SAVED, JSON.stringify(memory));
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString(VQ.lang, { hour: "2-digit", minute: "2-digit" });
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  // The number on one line, whatever its length, the zoom or the screen: shrunk until it fits.
  function fitNumber() {
    const node = $("number");
    node.style.removeProperty("--fit");
    if (!node.clientWidth || node.scrollWidth <= node.clientWidth) return;
    node.style.setProperty("--fit", String(Math.floor(node.clientWidth / node.scrollWidth * 100) / 100));
  }

  // ---- The wait, in words ------------------------------------------------------------------

  // The range one time in ten sooner to one time in ten later (P10..P90), counted down from
  // when the view came (the server's seconds, so a phone's wrong clock does not matter).
  function waitWords(estimate, elapsedS) {
    const low = Math.max(0, estimate.p10_seconds - elapsedS);
    const high = Math.max(0, estimate.p90_seconds - elapsedS);
    if (high <= 0) return t("ticket.wait_any_moment");
    if (high < 60) return t("ticket.wait_under_minute");
    const lowM = Math.floor(low / 60);
    const highM = Math.max(1, Math.ceil(high / 60));
    if (highM > 120) {
      const lowH = Math.max(1, Math.floor(lowM / 60));
      return t("ticket.wait_range_hours", { low: lowH, high: Math.max(lowH + 1, Math.ceil(highM / 60)) });
    }
    if (lowM >= highM) return t("ticket.wait_about", { n: highM });
    return t("ticket.wait_range", { low: Math.max(1, lowM), high: Math.max(2, highM) });
  }

  function renderWait(view) {
    const waiting = view.status === "waiting";
    show("wait", waiting);
    if (!waiting) return;
    if (view.queue_status === "paused") {  // nobody is called: no range counts down meanwhile
      setText("wait-text", t("ticket.wait_paused"));
      setText("wait-hint", t("ticket.wait_paused_hint"));
    } else if (view.estimate) {
      const elapsed = (Date.now() - memory.at) / 1000;
      setText("wait-text", waitWords(view.estimate, elapsed));
      setText("wait-hint", t("ticket.wait_hint"));
    } else {
      setText("wait-text", t("ticket.wait_unknown"));
      setText("wait-hint", t("ticket.wait_unknown_hint"));
    }
  }

  // ---- The ticket's state ------------------------------------------------------------------

  function noShowDetail(view) {
    const until = view.return_until ? VQ.parseTime(view.return_until) : NaN;
    if (isNaN(until)) return t("ticket.detail_no_show");
    if (until <= VQ.now()) return t("ticket.detail_no_show_late");
    return t("ticket.detail_no_show_until", { time: clock(until) });
  }

  const CANCELLED = { closing: "ticket.detail_cancelled_closing",
    customer: "ticket.detail_cancelled_customer" };

  // [headline, detail, tab title] for the view's status.
  function words(view) {
    const v = { number: view.number, counter: VQ.counterLabel(view.counter, "common.counter"),
      ahead: view.people_ahead };
    switch (view.status) {
      case "waiting":
        if (view.position === 1) {
          return [t("ticket.headline_next"), t("ticket.detail_next"), t("ticket.doc_next", v)];
        }
        return [t("ticket.headline_waiting"), t("ticket.detail_waiting"), t("ticket.doc_waiting", v)];
      case "called":
        return [
          "",
          !view.counter ? t("ticket.called_no_counter")
            : view.recall_count > 0 ? t("ticket.called_again", v) : t("ticket.called_detail", v),
          t("ticket.doc_called", v),
        ];
      case "serving":
        return [t("ticket.headline_serving", v), t("ticket.detail_serving"), t("ticket.doc_serving", v)];
      case "served":
        return [t("ticket.headline_served"), t("ticket.detail_served"), t("ticket.doc_done", v)];
      case "no_show":
        return [t("ticket.headline_no_show"), noShowDetail(view), t("ticket.doc_no_show", v)];
      case "cancelled":  // in the words of who ended it: the queue's close, the person, staff
        return [t("ticket.headline_cancelled"),
          t(CANCELLED[view.cancelled_by] || "ticket.detail_cancelled"), t("ticket.doc_cancelled", v)];
      case "transferred":
        return [t("ticket.headline_transferred"), t("ticket.detail_transferred"), view.number];
      default:
        return ["", "", view.number];
    }
  }

  function render() {
    const view = memory.view;
    if (!view) return;
    const status = view.status;
    show("loading", false);
    show("card", true);
    $("card").className = "card status-" + status;
    setText("number", view.number);
    fitNumber();
    show("queue-name", Boolean(view.queue_name));
    setText("queue-name", view.queue_name || "");

    const called = status === "called";
    show("turn", called);
    setText("turn-counter", VQ.counterLabel(view.counter, "ticket.turn_counter"));
    const said = words(view);
    setText("headline", said[0]);
    show("headline", Boolean(said[0]));
    setText("detail", said[1]);
    document.title = said[2] + " · " + t("common.product");

    const moved = memory.queue && view.queue_id !== memory.queue && status !== "transferred";
    show("moved", Boolean(moved));
    setText("moved", view.queue_name ? t("ticket.moved_to", { queue: view.queue_name }) : t("ticket.moved"));

    const waiting = status === "waiting" && view.position !== null && view.position !== undefined;
    show("facts", waiting);
    if (waiting) {
      setText("position", String(view.position));
      setText("ahead", String(view.people_ahead));
    }
    renderWait(view);
    renderFreshness();

    const open = status === "waiting" || status === "called";
    show("sound", open);
    show("cancel", open);
    if (!open) show("cancel-confirm", false);
    show("notify", status === "waiting" || status === "transferred");
  }

  function renderFreshness() {
    if (!memory.view) return;
    const fresh = live && navigator.onLine;
    setText("freshness", fresh ? t("ticket.live") : FINAL.indexOf(memory.view.status) >= 0
      ? t("ticket.last_updated", { time: clock(memory.at) })
      : t("ticket.offline_view", { time: clock(memory.at) }));
    $("freshness").classList.toggle("stale", !fresh && FINAL.indexOf(memory.view.status) < 0);
  }

  // Ring once per call (a recall is a new call): sound, vibration, the screen reader.
  function alertIfCalled(view) {
    if (view.status !== "called") return;
    const call = [view.called_at, view.counter, view.recall_count].join("|");
    if (memory.alerted === call) return;
    memory.alerted = call;
    save();
    VQ.chime();
    VQ.vibrate();
    VQ.announce(t("ticket.announce_called", { number: view.number,
      counter: VQ.counterLabel(view.counter, "common.counter") }));
  }

  // The ticket's own language (or its booking's, before the check-in: the same id), when the
  // person has not picked one here: once per ticket. True when the page is being replaced.
  function switchLanguage(seen) {
    leaving = leaving || VQ.switchLanguage(seen.language, SWITCHED);
    return leaving;
  }

  function onView(view) {
    if (!view || view.ticket_id !== ticketId) return undefined;
    if (switchLanguage(view)) {
      if (stream) stream.close();
      return false;
    }
    live = true;
    T.hideBooking();
    memory.view = view;
    memory.at = Date.now();
    if (!memory.queue) memory.queue = view.queue_id;
    save();
    render();
    alertIfCalled(view);
    // After these the server ends the stream: nothing more will come.
    return FINAL.indexOf(view.status) >= 0 ? false : undefined;
  }

  function broken(title, text) {
    show("loading", false);
    setText("broken-title", title);
    setText("broken-text", text);
    show("broken", true);
  }

  function onState(state, problem) {
    live = state === "live";
    renderFreshness();
    if (state !== "failed") return;
    if (problem.status === 401) {
      const token = VQ.ticketToken(ticketId);
      if (token) token.forget();
      broken(t("ticket.broken_title"), t("ticket.broken_link"));
    } else if (problem.status === 404) {
      notATicket();
    } else if (problem.status === 409 && !memory.view && ticketLooks++ < TICKET_LOOKS) {
      // The read side is further behind than the stream's wait (stale-read): ask again.
      lookAgain(wanted);
    } else {
      broken(t("ticket.problem_title"), problem.text);
    }
  }

  // ---- A booking (no ticket yet) ----------------------------------------------------------

  function follow(minVersion) {
    wanted = minVersion;
    const wait = minVersion === undefined ? "" : "?min_version=" + minVersion + "&wait=15";
    stream = VQ.follow(base + "/events" + wait, onView, { onState: onState });
  }

  async function notATicket() {
    let booking;
    try {
      booking = await T.showBooking();
    } catch (problem) {
      // A ticket taken a moment ago is in the system of record before it is in the read
      // models: its stream is a 404 until the stream worker folds it (a QR code scanned at
      // once, a busy worker). Asked with a min_version, the stream waits for the ticket to
      // get there, and a 404 to that is exact: the system of record has no such ticket (any
      // more). A device that saw the ticket says it is gone at once.
      if (problem.status === 404 && !memory.view && wanted === undefined) {
        if (!leaving) follow(1);
        return;
      }
      broken(VQ.t("ticket.problem_title"),
        problem.status === 404 ? VQ.t("ticket.gone") : problem.text);
      return;
    }
    if (leaving) return; // the page comes again, in the booking's language
    // Checked in (by staff, or a moment ago): its ticket is there, or about to be.
    if (booking.status === "checked_in" && bookingLooks++ < 10) lookAgain();
  }

  // The stream asked for again in a second (with `minVersion`, if given).
  async function lookAgain(minVersion) {
    await VQ.sleep(1000);
    if (!leaving) follow(minVersion);
  }

  function onCheckedIn(answer) {
    follow(answer && typeof answer.stream_version === "number" ? answer.stream_version : undefined);
  }

  // ---- Sound -------------------------------------------------------------------------------

  // Browsers play nothing before a gesture: this tap unlocks the sound (and plays it once, so
  // the person hears what to listen for).
  function setUpSound() {
    $("sound-button").addEventListener("click", function () {
      VQ.chime();
      setText("sound-button", t("ticket.sound_test_button"));
      setText("sound-hint", t("ticket.sound_is_on"));
    });
  }

  // ---- Cancel my place ---------------------------------------------------------------------

  function setUpCancel() {
    const ask = $("cancel-button");
    const confirm = $("cancel-confirm");
    function close() {
      confirm.hidden = true;
      ask.setAttribute("aria-expanded", "false");
    }
    ask.addEventListener("click", function () {
      const opening = confirm.hidden;
      confirm.hidden = !opening;
      ask.setAttribute("aria-expanded", String(opening));
      show("cancel-message", false);
      if (opening) $("cancel-no").focus();
    });
    $("cancel-no").addEventListener("click", function () {
      close();
      ask.focus();
    });
    $("cancel-yes").addEventListener("click", async function () {
      const yes = $("cancel-yes");
      yes.disabled = true;
      try {
        const answer = await VQ.api(base + "/cancel", { method: "POST", idempotent: true });
        close();
        if (answer && answer.ticket && memory.view) {
          memory.view = Object.assign({}, memory.view, {
            status: answer.ticket.status, position: null, people_ahead: null, estimate: null,
            cancelled_by: answer.ticket.cancelled_by,
          });
          save();
          render();
        }
      } catch (problem) {
        setText("cancel-message", problem.text || t("problem.generic"));
        show("cancel-message", true);
      } finally {
        yes.disabled = false;
      }
    });
  }

  // ---- The service worker, and the start ---------------------------------------------------

  // The worker keeps this page for an offline reload (with the files it loaded before the
  // worker was there to see them) and shows push notifications.
  function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      const files = Array.from(document.querySelectorAll("script[src], link[href]"), function (n) {
        return n.getAttribute("src") || n.getAttribute("href");
      });
      registration.active.postMessage({ type: "vq-keep", urls: [location.pathname + location.search].concat(files) });
      registration.active.postMessage({
        type: "vq-strings", strings: { title: t("ticket.push_fallback_title") },
      });
    }).catch(function () { /* no worker: the page works, without an offline copy */ });
  }

  function start() {
    const token = VQ.ticketToken(ticketId);
    if (!token) {
      broken(t("ticket.broken_title"), t("ticket.broken_link"));
      return;
    }
    VQ.credential = token;
    forgetOldTickets();
    if (memory.view) render(); // the last known view at once (offline, or a slow line)
    T.setUpBooking(ticketId, onCheckedIn, switchLanguage);
    // A device that never saw the ticket asks the stream to wait for it (a ticket taken a moment
    // ago may not be in the read models yet; a 404 then is exact: no such ticket, or a booking).
    // One that saw it asks without: a 404 then says it is gone at once.
    follow(memory.view ? undefined : 1);
    setUpSound();
    setUpCancel();
    T.setUpNotify(base);
    T.setUpDetails(base);
    registerWorker();
    setInterval(function () {
      if (memory.view) {
        renderWait(memory.view);
        renderFreshness();
      }
    }, TICK_MS);
    window.addEventListener("online", renderFreshness);
    window.addEventListener("offline", renderFreshness);
    VQ.clock.listen(function () { if (memory.view) render(); }); // a no-show's grace, on the API's clock
    window.addEventListener("resize", function () { if (memory.view) fitNumber(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
