/* kiosk.js: take a ticket on a touch screen.
 *
 * The kiosk's key comes once in the URL fragment (/kiosk#key=vq_...) and is kept by the browser
 * (VQ.deviceKey). Screens: start (the organisation's queues) -> service (when the queue has
 * service types) -> details (optional phone and email, "Take ticket") -> ticket (number, wait,
 * QR code, print) or message (a refusal, in words). The page goes back to the start by itself:
 * `?reset=` seconds after a ticket is shown (30), `?idle=` seconds without a touch elsewhere (60).
 *
 * This file: the page's state, the screens and their timers, choosing a queue and a service, a
 * language switch that keeps the choice, the start. kiosk-queues.js (the queue cards) and
 * kiosk-ticket.js (taking the ticket, the ticket screen) are loaded before it; the three share
 * window.VQKiosk, where this file puts state, show, toStart, startCountdown, refusedKey, pick and
 * resume.
 */
(function () {
  "use strict";

  const K = (window.VQKiosk = window.VQKiosk || {});
  const $ = function (id) { return document.getElementById(id); };
  const params = new URLSearchParams(location.search);

  function seconds(name, fallback) {
    const value = Number(params.get(name));
    return params.has(name) && Number.isFinite(value) && value >= 1 && value <= 3600 ? value : fallback;
  }

  const TICKET_S = seconds("reset", 30);
  const IDLE_S = seconds("idle", 60);
  const RESUME = "vq.kiosk.resume"; // what a language switch carries over (sessionStorage)
  const RESUME_MAX_MS = 30000;
  const SCREENS = ["loading", "blocked", "start", "service", "details", "message", "ticket"];
  // A new screen takes no touch for this long: the second tap of a double tap (or an impatient
  // one) lands on nothing rather than on whatever the new screen put under the finger.
  const SETTLE_MS = 400;
  const IDLE_SCREENS = ["service", "details", "message"];

  const state = (K.state = {
    screen: "loading",
    queues: [],
    loaded: false,
    loading: false,
    queue: null,
    service: null,
    attempt: null, // {key, json}: one attempt to take a ticket, whatever its retries
    taking: false,
    asking: false, // a card that said no: the API is asked before the person is turned away
    settleTimer: null,
    settledAt: 0,
    generation: 0, // bumped by every return to the start: late answers of a past person are dropped
    refreshTimer: null,
    idleTimer: null,
    countdownTimer: null,
    countdownLeft: 0,
    blocked: false,
  });

  // ---- Screens and timers ------------------------------------------------------------------

  function show(name) {
    state.screen = name;
    SCREENS.forEach(function (screen) { $("screen-" + screen).hidden = screen !== name; });
    document.body.dataset.screen = name;
    settle();
    const heading = $("screen-" + name).querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    stopCountdown();
    touched();
  }

  // kiosk.css: body.is-settling takes no pointer events (a tap lands on the page, not a button);
  // a click that reaches a control all the same (a pen, an old browser) is dropped here.
  function settle() {
    state.settledAt = performance.now() + SETTLE_MS;
    document.body.classList.add("is-settling");
    clearTimeout(state.settleTimer);
    state.settleTimer = setTimeout(function () {
      document.body.classList.remove("is-settling");
    }, SETTLE_MS);
  }
  document.addEventListener("click", function (event) {
    if (event.detail > 0 && performance.now() < state.settledAt &&
        event.target.closest && event.target.closest("button, a, input, label")) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Any touch, key or typing: the person is still here.
  function touched() {
    clearTimeout(state.idleTimer);
    if (state.screen === "ticket") {
      startCountdown();
    } else if (IDLE_SCREENS.includes(state.screen)) {
      state.idleTimer = setTimeout(function () {
        if (!state.taking) toStart();
      }, IDLE_S * 1000);
    }
  }
  ["pointerdown", "keydown", "input"].forEach(function (type) {
    document.addEventListener(type, touched, { passive: true });
  });

  function startCountdown() {
    stopCountdown();
    state.countdownLeft = Math.round(TICKET_S);
    renderCountdown();
    state.countdownTimer = setInterval(function () {
      state.countdownLeft -= 1;
      if (state.countdownLeft <= 0) toStart();
      else renderCountdown();
    }, 1000);
  }

  function stopCountdown() {
    clearInterval(state.countdownTimer);
    state.countdownTimer = null;
  }

  function renderCountdown() {
    $("countdown").textContent = VQ.t("kiosk.returning", { seconds: state.countdownLeft });
  }

  // Back to the start: nothing the last person typed or was given stays on the screen.
  function toStart() {
    state.generation += 1;
    state.queue = null;
    state.service = null;
    state.attempt = null;
    clearTimeout(state.idleTimer);
    stopCountdown();
    $("details-form").reset();
    K.clearFieldErrors();
    K.setStatus(null);
    ["ticket-number", "ticket-queue", "ticket-wait", "ticket-ahead", "ticket-time",
      "ticket-notify", "message-text", "message-hours"].forEach(function (id) {
      $(id).textContent = "";
    });
    $("ticket-qr").hidden = true;
    $("ticket-qr").removeAttribute("src");
    $("ticket-qr-caption").textContent = VQ.t("kiosk.qr_caption");
    show("start");
    K.loadQueues();
  }

  function blocked(text) {
    state.blocked = true;
    clearTimeout(state.refreshTimer);
    $("blocked-text").textContent = text;
    show("blocked");
  }

  function refusedKey(problem) {
    if (problem.status !== 401 && problem.status !== 403) return false;
    blocked(VQ.t("common.key_refused"));
    return true;
  }

  // ---- Choosing ----------------------------------------------------------------------------

  function refusalOf(queue) {
    const name = K.queueState(queue);
    return { closed: "queue-closed", full: "queue-full", outside_hours: "outside-hours" }[name] || null;
  }

  // A card that says no (closed, full, outside hours) may say it on old news (a view 15 s old)
  // or on a judgement of this screen: the API is asked first, and a person is turned away only
  // when it says no too. When it cannot be asked, the person goes on: the enqueue has the last
  // word, and its refusal is said in the person's language all the same.
  async function pick(queueId) {
    let queue = K.queueById(queueId);
    if (!queue || state.asking || state.screen !== "start") return;
    if (refusalOf(queue)) {
      const generation = state.generation;
      state.asking = true;
      let asked = null;
      try {
        asked = await K.askQueue(queueId);
      } catch (problem) {
        return; // the key was refused: the whole screen says so
      } finally {
        state.asking = false;
      }
      if (generation !== state.generation || state.screen !== "start") return;
      queue = asked || queue;
      let refusal = asked ? refusalOf(asked) : null;
      // Hours judged on the browser's clock alone (the API's never answered): not a reason.
      if (refusal === "outside-hours" && !VQ.clock.known()) refusal = null;
      if (refusal) {
        K.refuse(refusal, queue);
        return;
      }
    }
    state.queue = queue;
    state.service = null;
    if (queue.service_types && queue.service_types.length) {
      renderServices(queue);
      show("service");
    } else {
      showDetails();
    }
  }

  function renderServices(queue) {
    $("service-queue").textContent = queue.name;
    const list = $("services");
    list.replaceChildren.apply(list, queue.service_types.map(function (service) {
      return VQ.el("li", {}, VQ.el("button", {
        type: "button",
        class: "choice",
        dataset: { service: service },
        onclick: function () { state.service = service; showDetails(); },
      }, service));
    }));
  }

  function showDetails() {
    const queue = state.queue;
    $("details-choice").textContent = state.service
      ? VQ.t("kiosk.queue_service", { queue: queue.name, service: state.service }) : queue.name;
    $("details-paused").hidden = queue.status !== "paused";
    show("details");
  }

  function back() {
    if (state.taking) return;
    if (state.queue && state.queue.service_types && state.queue.service_types.length) {
      show("service");
    } else {
      toStart();
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-action]");
    if (!button || state.taking) return;
    if (button.dataset.action === "start") toStart();
    else if (button.dataset.action === "back") back();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && IDLE_SCREENS.includes(state.screen) && !state.taking) toStart();
  });
  $("blocked-retry").addEventListener("click", function () { location.reload(); });

  // ---- A language switch keeps what the person chose and typed (for a few seconds) ----------

  document.querySelectorAll(".kiosk-languages a[data-lang]").forEach(function (link) {
    link.addEventListener("click", function () {
      if (!state.queue || !["service", "details"].includes(state.screen)) return;
      const kept = {
        at: Date.now(), screen: state.screen, queue: state.queue.queue_id, service: state.service,
        phone: $("phone").value, email: $("email").value,
      };
      try { sessionStorage.setItem(RESUME, JSON.stringify(kept)); } catch (e) { /* not kept */ }
    });
  });

  function resume() {
    let kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(RESUME));
      sessionStorage.removeItem(RESUME);
    } catch (e) { return; }
    if (!kept || Date.now() - kept.at > RESUME_MAX_MS || state.screen !== "start") return;
    const queue = K.queueById(kept.queue);
    if (!queue) return;
    state.queue = queue;
    if (kept.screen === "service") {
      renderServices(queue);
      show("service");
      return;
    }
    state.service = queue.service_types.includes(kept.service) ? kept.service : null;
    $("phone").value = kept.phone || "";
    $("email").value = kept.email || "";
    showDetails();
  }

  // ---- Start -------------------------------------------------------------------------------

  Object.assign(K, {
    show: show,
    toStart: toStart,
    startCountdown: startCountdown,
    refusedKey: refusedKey,
    pick: pick,
    resume: resume,
  });

  VQ.credential = VQ.deviceKey("kiosk");
  if (!VQ.credential) {
    blocked(VQ.t("common.no_key"));
  } else {
    K.loadQueues();
  }
})();
