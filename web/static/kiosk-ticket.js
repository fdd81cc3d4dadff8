/* kiosk-ticket.js: taking the ticket at the kiosk (loaded before kiosk.js).
 *
 * The details screen's optional phone and email (checked here, told by the field), the one
 * idempotent request that takes the ticket, a refusal in words (the message screen, with today's
 * opening hours when it is outside them), and the ticket screen: number, queue, wait range (read
 * again once the new ticket is in the read side), QR code, print. Reads the page's state through
 * window.VQKiosk (kiosk.js).
 *
 * Taking a ticket is one idempotent request: its Idempotency-Key is made once per attempt and
 * reused by every retry (vq.js retries while the network is down), so a double tap or a lost
 * answer never makes two tickets.
 *
 * window.VQKiosk: setStatus(kind, text), clearFieldErrors(), refuse(code, queue)
 */
(function () {
  "use strict";

  const K = (window.VQKiosk = window.VQKiosk || {});
  const $ = function (id) { return document.getElementById(id); };
  const TICKET_READ_WAIT_S = 5; // read-your-write of the new ticket's wait range
  const PHONE = /^\+[1-9][0-9]{6,14}$/;
  const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

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
    const state = K.state;
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
    const state = K.state;
    state.taking = on;
    document.body.classList.toggle("is-taking", on);
    $("details-fields").disabled = on;
    $("take").disabled = on;
    $("take").textContent = on ? VQ.t("kiosk.taking") : VQ.t("kiosk.take");
    document.querySelectorAll("#screen-details [data-action]").forEach(function (b) { b.disabled = on; });
  }

  function offlineWhileTaking() {
    const state = K.state;
    if (state.taking && (!navigator.onLine || VQ.connection.down.size > 0)) {
      setStatus("warn", VQ.t("kiosk.taking_offline"));
    }
  }
  window.addEventListener("offline", offlineWhileTaking);

  async function take(event) {
    const state = K.state;
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
    if (K.refusedKey(problem)) return;
    const known = ["queue-closed", "queue-full", "outside-hours", "queue-paused", "not-found"];
    if (known.includes(problem.code)) {
      refuse(problem.code, queue);
      K.loadQueues();
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
    const hours = code === "outside-hours" ? K.hoursText(queue) : "";
    $("message-hours").textContent = hours;
    $("message-hours").hidden = !hours;
    K.show("message");
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
    return VQ.plural("kiosk.ahead", ahead);
  }

  function renderWait(estimate, ahead) {
    $("ticket-wait").textContent = waitWords(estimate, ahead);
    $("ticket-ahead").textContent = aheadWords(ahead);
  }

  function showTicket(queue, answer, contact) {
    const state = K.state;
    const ticket = answer.ticket;
    const service = ticket.service_type || state.service;
    $("ticket-number").textContent = ticket.number;
    $("ticket-queue").textContent = service
      ? VQ.t("kiosk.queue_service", { queue: queue.name, service: service }) : queue.name;
    // Until the ticket's own range is read: what the queue promised a newcomer a moment ago.
    renderWait(queue.estimate, ticket.people_ahead);
    const when = new Intl.DateTimeFormat(VQ.lang, { dateStyle: "medium", timeStyle: "short" });
    $("ticket-time").textContent = VQ.t("kiosk.taken_at", { time: when.format(new Date(VQ.now())) });
    const told = [];
    if (contact.phone) told.push(VQ.t("kiosk.notify_sms", { phone: contact.phone }));
    if (contact.email) told.push(VQ.t("kiosk.notify_email", { email: contact.email }));
    $("ticket-notify").textContent = told.join(" ");
    K.show("ticket");
    VQ.announce(VQ.t("kiosk.your_number") + ": " + ticket.number);
    const generation = state.generation;
    readTicket(ticket.ticket_id, answer.stream_version, generation);
    loadQr(ticket.ticket_id, generation);
  }

  async function readTicket(ticketId, version, generation) {
    const state = K.state;
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
    const state = K.state;
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
    K.startCountdown();
  });
  $("done").addEventListener("click", function () { K.toStart(); });
  window.addEventListener("afterprint", function () {
    if (K.state.screen === "ticket") K.startCountdown();
  });

  K.setStatus = setStatus;
  K.clearFieldErrors = clearFieldErrors;
  K.refuse = refuse;
})();
