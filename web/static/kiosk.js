/* kiosk.js: take a ticket on a touch screen.
 *
 * The kiosk's key comes once in the URL fragment (/kiosk#key=vq_...) and is kept by the browser
 * (VQ.deviceKey). Screens: start (the organisation's queues) -> service (when the queue has
 * service types) -> details (optional phone and email, "Take ticket") -> ticket (number, wait,
 * QR code, print) or message (a refusal, in words). The page goes back to the start by itself:
 * `?reset=` seconds after a ticket is shown (30), `?idle=` seconds without a touch elsewhere (60).
 *
 * Taking a ticket is one idempotent request: its Idempotency-Key is made once per attempt and
 * reused by every retry (vq.js retries while the network is down), so a double tap or a lost
 * answer never makes two tickets.
 */
(function () {
  "use strict";

  const $ = function (id) { return document.getElementById(id); };
  const params = new URLSearchParams(location.search);

  function seconds(name, fallback) {
    const value = Number(params.get(name));
    return params.has(name) && Number.isFinite(value) && value >= 1 && value <= 3600 ? value : fallback;
  }

  const TICKET_S = seconds("reset", 30);
  const IDLE_S = seconds("idle", 60);
  const REFRESH_MS = 15000; // the queue list, while it answers
  const RETRY_MS = 3000; // ... and while it does not
  const TICKET_READ_WAIT_S = 5; // read-your-write of the new ticket's wait range
  const RESUME = "vq.kiosk.resume"; // what a language switch carries over (sessionStorage)
  const RESUME_MAX_MS = 30000;
  const PHONE = /^\+[1-9][0-9]{6,14}$/;
  const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const SCREENS = ["loading", "blocked", "start", "service", "details", "message", "ticket"];
  const IDLE_SCREENS = ["service", "details", "message"];

  const state = {
    screen: "loading",
    queues: [],
    loaded: false,
    loading: false,
    queue: null,
    service: null,
    attempt: null, // {key, json}: one attempt to take a ticket, whatever its retries
    taking: false,
    generation: 0, // bumped by every return to the start: late answers of a past person are dropped
    refreshTimer: null,
    idleTimer: null,
    countdownTimer: null,
    countdownLeft: 0,
    blocked: false,
  };

  // ---- Screens and timers ------------------------------------------------------------------

  function show(name) {
    state.screen = name;
    SCREENS.forEach(function (screen) { $("screen-" + screen).hidden = screen !== name; });
    document.body.dataset.screen = name;
    const heading = $("screen-" + name).querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    stopCountdown();
    touched();
  }

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
    clearFieldErrors();
    setStatus(null);
    ["ticket-number", "ticket-queue", "ticket-wait", "ticket-ahead", "ticket-time",
      "ticket-notify", "message-text", "message-hours"].forEach(function (id) {
      $(id).textContent = "";
    });
    $("ticket-qr").hidden = true;
    $("ticket-qr").removeAttribute("src");
    $("ticket-qr-caption").textContent = VQ.t("kiosk.qr_caption");
    show("start");
    loadQueues();
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

  // ---- The queues --------------------------------------------------------------------------

  async function loadQueues() {
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
      if (state.screen === "loading") show("start");
      resume();
    } catch (problem) {
      if (refusedKey(problem)) return;
      if (!state.loaded) {
        if (state.screen === "loading") show("start");
        $("queues-status").textContent = problem.status === 0 ? VQ.t("kiosk.connecting") : problem.text;
      }
    } finally {
      state.loading = false;
    }
    if (!state.blocked) state.refreshTimer = setTimeout(loadQueues, next);
  }
  window.addEventListener("online", function () { loadQueues(); });

  function queueById(id) {
    return state.queues.find(function (q) { return q.queue_id === id; }) || null;
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
    const facts = [queue.waiting > 0 ? VQ.t("kiosk.waiting_count", { count: queue.waiting })
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
        onclick: function () { pick(queueId); },
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
      }).formatToParts(new Date());
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

  // ---- Choosing ----------------------------------------------------------------------------

  function pick(queueId) {
    const queue = queueById(queueId);
    if (!queue) return;
    const name = queueState(queue);
    const refusal = { closed: "queue-closed", full: "queue-full", outside_hours: "outside-hours" }[name];
    if (refusal) {
      refuse(refusal, queue);
      return;
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

  // ---- Phone and email ---------------------------------------------------------------------

  function normalPhone(text) {
    const compact = text.replace(/[\s().\/-]/g, "");
    return compact.startsWith("00") ? "+" + compact.slice(2) : compact;
  }

  function fieldError(id, text) {
    const error = $(id + "-error");
    error.textContent = text || "";
    error.hidden = !text;
    $(id).setAttribute("aria-invalid", text ? "true" : "false");
  }

  function clearFieldErrors() {
    fieldError("phone", null);
    fieldError("email", null);
  }

  // {phone, email} as the API takes them, or null (and the fields say what is wrong).
  function readContact() {
    const phone = normalPhone($("phone").value.trim());
    const email = $("email").value.trim();
    clearFieldErrors();
    const phoneBad = phone !== "" && !PHONE.test(phone);
    const emailBad = email !== "" && !EMAIL.test(email);
    if (phoneBad) fieldError("phone", VQ.t("kiosk.phone_invalid"));
    if (emailBad) fieldError("email", VQ.t("kiosk.email_invalid"));
    if (phoneBad || emailBad) {
      $(phoneBad ? "phone" : "email").focus();
      return null;
    }
    return { phone: phone || null, email: email || null };
  }

  function enqueueBody(contact) {
    const body = { channel: "kiosk", language: VQ.lang };
    if (state.service) body.service_type = state.service;
    const notify = [];
    if (contact.phone) notify.push({ channel: "sms", address: contact.phone, language: VQ.lang });
    if (contact.email) notify.push({ channel: "email", address: contact.email, language: VQ.lang });
    if (notify.length) body.notify = notify;
    return body;
  }

  // ---- Taking the ticket -------------------------------------------------------------------

  function setStatus(kind, text) {
    const area = $("details-status");
    area.replaceChildren();
    if (kind) area.append(VQ.el("p", { class: "notice " + kind, text: text }));
  }

  function setTaking(on) {
    state.taking = on;
    document.body.classList.toggle("is-taking", on);
    $("details-fields").disabled = on;
    $("take").disabled = on;
    $("take").textContent = on ? VQ.t("kiosk.taking") : VQ.t("kiosk.take");
    document.querySelectorAll("#screen-details [data-action]").forEach(function (b) { b.disabled = on; });
  }

  function offlineWhileTaking() {
    if (state.taking && (!navigator.onLine || VQ.connection.down.size > 0)) {
      setStatus("warn", VQ.t("kiosk.taking_offline"));
    }
  }
  window.addEventListener("offline", offlineWhileTaking);

  async function take(event) {
    event.preventDefault();
    if (state.taking || !state.queue) return;
    const contact = readContact();
    if (!contact) return;
    const body = enqueueBody(contact);
    const json = JSON.stringify(body);
    // The same request again (a retry after an unclear failure) keeps its key: if the first one
    // went through, the answer is that ticket, not a second one.
    if (!state.attempt || state.attempt.json !== json) state.attempt = { key: VQ.uuid(), json: json };
    const generation = state.generation;
    const queue = state.queue;
    setTaking(true);
    setStatus(navigator.onLine ? null : "warn", VQ.t("kiosk.taking_offline"));
    const slow = setTimeout(offlineWhileTaking, 4000);
    try {
      const answer = await VQ.api("/v1/queues/" + encodeURIComponent(queue.queue_id) + "/tickets", {
        method: "POST", body: body, idempotent: true, idempotencyKey: state.attempt.key,
      });
      state.attempt = null;
      if (generation === state.generation) showTicket(queue, answer, contact);
    } catch (problem) {
      if (problem.status >= 400 && problem.status < 500) state.attempt = null;
      if (generation === state.generation) refused(problem, queue);
    } finally {
      clearTimeout(slow);
      setTaking(false);
    }
  }
  $("details-form").addEventListener("submit", take);

  function refused(problem, queue) {
    if (refusedKey(problem)) return;
    const known = ["queue-closed", "queue-full", "outside-hours", "queue-paused", "not-found"];
    if (known.includes(problem.code)) {
      refuse(problem.code, queue);
      loadQueues();
      return;
    }
    setStatus("bad", problem.text);
    $("take").focus();
  }

  function refusalText(code) {
    switch (code) {
      case "queue-closed": return VQ.t("kiosk.refused_closed");
      case "queue-full": return VQ.t("kiosk.refused_full");
      case "outside-hours": return VQ.t("kiosk.refused_outside_hours");
      case "queue-paused": return VQ.t("kiosk.refused_paused");
      case "not-found": return VQ.t("problem.not-found");
      default: return VQ.t("problem.generic");
    }
  }

  function refuse(code, queue) {
    $("message-text").textContent = refusalText(code);
    const hours = code === "outside-hours" ? hoursText(queue) : "";
    $("message-hours").textContent = hours;
    $("message-hours").hidden = !hours;
    show("message");
  }

  // ---- The ticket --------------------------------------------------------------------------

  function waitWords(estimate, ahead) {
    if (ahead === 0) return VQ.t("kiosk.wait_next");
    if (!estimate) return "";
    const low = Math.floor(estimate.p10_seconds / 60);
    const high = Math.ceil(estimate.p90_seconds / 60);
    if (high <= 1) return VQ.t("kiosk.wait_soon");
    if (low >= high) return VQ.t("kiosk.wait_about", { n: high });
    if (low < 1) return VQ.t("kiosk.wait_up_to", { high: high });
    return VQ.t("kiosk.wait_range", { low: low, high: high });
  }

  function aheadWords(ahead) {
    if (ahead === null || ahead === undefined || ahead === 0) return "";
    return ahead === 1 ? VQ.t("kiosk.ahead_one") : VQ.t("kiosk.ahead_many", { count: ahead });
  }

  function renderWait(estimate, ahead) {
    $("ticket-wait").textContent = waitWords(estimate, ahead);
    $("ticket-ahead").textContent = aheadWords(ahead);
  }

  function showTicket(queue, answer, contact) {
    const ticket = answer.ticket;
    const service = ticket.service_type || state.service;
    $("ticket-number").textContent = ticket.number;
    $("ticket-queue").textContent = service
      ? VQ.t("kiosk.queue_service", { queue: queue.name, service: service }) : queue.name;
    // Until the ticket's own range is read: what the queue promised a newcomer a moment ago.
    renderWait(queue.estimate, ticket.people_ahead);
    const when = new Intl.DateTimeFormat(VQ.lang, { dateStyle: "medium", timeStyle: "short" });
    $("ticket-time").textContent = VQ.t("kiosk.taken_at", { time: when.format(new Date()) });
    const told = [];
    if (contact.phone) told.push(VQ.t("kiosk.notify_sms", { phone: contact.phone }));
    if (contact.email) told.push(VQ.t("kiosk.notify_email", { email: contact.email }));
    $("ticket-notify").textContent = told.join(" ");
    show("ticket");
    VQ.announce(VQ.t("kiosk.your_number") + ": " + ticket.number);
    const generation = state.generation;
    readTicket(ticket.ticket_id, answer.stream_version, generation);
    loadQr(ticket.ticket_id, generation);
  }

  async function readTicket(ticketId, version, generation) {
    try {
      const view = await VQ.api("/v1/tickets/" + encodeURIComponent(ticketId) +
        "?min_version=" + version + "&wait=" + TICKET_READ_WAIT_S,
      { timeout: (TICKET_READ_WAIT_S + 10) * 1000 });
      if (generation !== state.generation || !view || view.status !== "waiting") return;
      if (view.estimate || view.people_ahead === 0) renderWait(view.estimate, view.people_ahead);
      else $("ticket-ahead").textContent = aheadWords(view.people_ahead);
    } catch (e) { /* the range from the queue's view stays */ }
  }

  async function loadQr(ticketId, generation) {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const svg = await VQ.api("/v1/tickets/" + encodeURIComponent(ticketId) + "/qr", {
          headers: { Accept: "image/svg+xml" },
        });
        if (generation !== state.generation) return;
        $("ticket-qr").src = "data:image/svg+xml;base64," + btoa(svg);
        $("ticket-qr").hidden = false;
        return;
      } catch (problem) {
        if (!problem.retryable || generation !== state.generation) break;
        await VQ.sleep(Math.min(8000, 1000 * (attempt + 1)));
      }
    }
    if (generation === state.generation) $("ticket-qr-caption").textContent = VQ.t("kiosk.qr_missing");
  }

  $("print").addEventListener("click", function () {
    window.print();
    startCountdown();
  });
  $("done").addEventListener("click", toStart);
  window.addEventListener("afterprint", function () {
    if (state.screen === "ticket") startCountdown();
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
    const queue = queueById(kept.queue);
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

  VQ.credential = VQ.deviceKey("kiosk");
  if (!VQ.credential) {
    blocked(VQ.t("common.no_key"));
  } else {
    loadQueues();
  }
})();
