/* staff-bookings.js: the staff console's "Bookings today" panel, for a queue that takes
 * appointments (its view's `appointments`): today's bookings (GET /v1/queues/{id}/appointments,
 * times in the queue's time zone), "Check in" on a booked one (POST /v1/appointments/{id}/
 * check-in: the person joins the line, which the live stream shows), and a small form that books
 * one of today's free times (GET .../slots, POST .../appointments) and then shows the person's
 * page, /t/<booking id>#token=<its token> (to send or print; a Copy button).
 *
 * "Today" is the queue's day by the API's clock (VQ.now(): a demo's clock may run fast).
 * The list is read again when the queue's version changes (staff.js calls
 * VQ.staff.bookingsChanged) and every 60 s.
 */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const el = VQ.el;
  const REFRESH_MS = 60000;
  const DEBOUNCE_MS = 300;
  const HOUR_MS = 3600000;
  const b = { debounce: null, pending: new Set(), bookings: [], slots: [],
    shownFor: null };

  // ---- Time: the API's clock, the queue's zone ---------------------------------------------

  const parse = VQ.parseTime;
  const now = VQ.now;

  // The queue's zone, if this browser knows it, else UTC (vq-zone.js, shared with the dashboard).
  function zone() {
    return VQ.zoneOf(S.state.view && S.state.view.timezone);
  }

  function today() {
    const tz = zone();
    const start = VQ.localMidnight(now(), tz);
    return { start: start, end: VQ.localMidnight(start + 36 * HOUR_MS, tz) };
  }

  function hhmm(iso) {
    return new Intl.DateTimeFormat(VQ.lang, { timeZone: zone(), hour: "2-digit", minute: "2-digit",
      hourCycle: "h23" }).format(new Date(parse(iso)));
  }

  function iso(ms) {
    return encodeURIComponent(new Date(ms).toISOString());
  }

  // ---- Words ------------------------------------------------------------------------------

  function statusWord(status) {
    switch (status) {
      case "booked": return VQ.t("staff.booking_booked");
      case "checked_in": return VQ.t("staff.booking_checked_in");
      case "cancelled": return VQ.t("staff.booking_cancelled");
      case "missed": return VQ.t("staff.booking_missed");
      default: return status;
    }
  }

  // A problem (its words and the API's detail) or a success, in the panel (role=alert).
  function say(problem, text) {
    const box = $("staff-bookings-message");
    box.replaceChildren();
    if (problem && VQ.signin.refused(problem)) return;
    if (problem) {
      box.append(el("div", { class: "notice bad" }, el("p", { text: problem.text }),
        problem.detail && problem.status !== 0 ? el("p", { class: "staff-bookings-detail",
          text: problem.detail }) : null));
    } else if (text) {
      box.append(el("p", { class: "notice ok", text: text }));
    }
  }

  // ---- Reading ----------------------------------------------------------------------------

  function takes() {
    const view = S.state.view;
    if (view) return Boolean(view.appointments);
    const queue = S.state.place && S.queueById(S.state.place.queue_id);
    return Boolean(queue && queue.appointments);
  }

  async function refresh() {
    const st = S.state;
    const panel = $("staff-bookings");
    if (!st.place || !takes()) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const generation = st.generation;
    const path = "/v1/queues/" + encodeURIComponent(st.place.queue_id);
    await VQ.clock.ready;
    const day = today();
    try {
      const found = await Promise.all([
        VQ.api(path + "/appointments?from=" + iso(day.start) + "&to=" + iso(day.end)),
        VQ.api(path + "/slots?from=" + iso(now()) + "&to=" + iso(day.end)),
      ]);
      if (generation !== st.generation) return;
      b.bookings = found[0].appointments;
      b.slots = found[1].slots.filter(function (s) { return s.free > 0; });
      b.shownFor = st.place.queue_id;
      draw();
    } catch (problem) {
      if (generation !== st.generation) return;
      if (problem.code === "rule-violated") { // it stopped taking appointments
        panel.hidden = true;
        return;
      }
      if (problem.status !== 0) say(problem);
    }
  }

  function schedule() {
    clearTimeout(b.debounce);
    b.debounce = setTimeout(refresh, DEBOUNCE_MS);
  }

  // ---- Drawing ----------------------------------------------------------------------------

  function row(booking) {
    const cell = function (key, value) { return el("td", { "data-label": key }, value); };
    const time = hhmm(booking.slot_at);
    const button = booking.status === "booked"
      ? el("button", { type: "button", class: "secondary staff-row-button",
        dataset: { booking: booking.appointment_id },
        "aria-busy": b.pending.has(booking.appointment_id) ? "true" : null },
      VQ.t("staff.booking_check_in"), el("span", { class: "visually-hidden", text: " " + time }))
      : null;
    return el("tr", { dataset: { booking: booking.appointment_id, status: booking.status } },
      cell(VQ.t("staff.booking_col_time"), el("strong", { text: time })),
      cell(VQ.t("staff.booking_col_service"), booking.service_type || "—"),
      cell(VQ.t("staff.booking_col_status"), el("span", { class: "staff-badge staff-booking-" +
        booking.status, text: statusWord(booking.status) })),
      el("td", { class: "staff-row-actions" }, button));
  }

  function drawSlots() {
    const select = $("staff-book-slot");
    const before = select.value;
    select.replaceChildren.apply(select, b.slots.map(function (s) {
      return el("option", { value: s.slot_at }, hhmm(s.slot_at));
    }));
    if (b.slots.some(function (s) { return s.slot_at === before; })) select.value = before;
    const none = b.slots.length === 0;
    $("staff-book-none").hidden = !none;
    $("staff-book-fields").hidden = none;
    const types = (S.state.view && S.state.view.service_types) || [];
    const service = $("staff-book-service");
    const chosen = service.value;
    service.replaceChildren.apply(service, [el("option", { value: "" }, "—")].concat(
      types.map(function (t) { return el("option", { value: t }, t); })));
    service.value = types.indexOf(chosen) >= 0 ? chosen : "";
    $("staff-book-service-field").hidden = types.length === 0;
  }

  function draw() {
    const body = $("staff-bookings-body");
    const focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.dataset.booking : null;
    body.replaceChildren.apply(body, b.bookings.map(row));
    $("staff-bookings-table").hidden = b.bookings.length === 0;
    $("staff-bookings-empty").hidden = b.bookings.length > 0;
    drawSlots();
    if (focused) {
      const again = body.querySelector('button[data-booking="' + focused + '"]');
      (again || $("staff-bookings-title")).focus({ preventScroll: true });
    }
  }

  // ---- Acting -----------------------------------------------------------------------------

  async function checkIn(id) {
    if (b.pending.has(id)) return;
    const booking = b.bookings.find(function (x) { return x.appointment_id === id; });
    b.pending.add(id);
    draw();
    const generation = S.state.generation;
    try {
      const answer = await VQ.api("/v1/appointments/" + encodeURIComponent(id) + "/check-in",
        { method: "POST", idempotent: true });
      if (generation !== S.state.generation) return;
      const text = VQ.t("staff.booking_done_check_in", {
        number: answer.ticket ? answer.ticket.number : "",
        time: booking ? hhmm(booking.slot_at) : "" });
      say(null, text);
      S.status(text);
      S.readYourWrite(answer.stream_version);
    } catch (problem) {
      if (generation === S.state.generation) say(problem);
    } finally {
      b.pending.delete(id);
      if (generation === S.state.generation) schedule();
    }
  }

  async function book(event) {
    event.preventDefault();
    const form = $("staff-book-form");
    const slot = $("staff-book-slot").value;
    if (!slot || form.getAttribute("aria-busy") === "true" || !S.state.place) return;
    const body = { slot_at: slot, channel: "staff" };
    const service = $("staff-book-service").value;
    if (service) body.service_type = service;
    const name = $("staff-book-name").value.trim();
    const phone = $("staff-book-phone").value.trim();
    if (name || phone) {
      body.contact = {};
      if (name) body.contact.name = name;
      if (phone) body.contact.phone = phone;
    }
    form.setAttribute("aria-busy", "true");
    $("staff-book-go").disabled = true;
    const generation = S.state.generation;
    try {
      const made = await VQ.api("/v1/queues/" + encodeURIComponent(S.state.place.queue_id) +
        "/appointments", { method: "POST", body: body, idempotent: true });
      if (generation !== S.state.generation) return;
      showLink(made);
      $("staff-book-name").value = "";
      $("staff-book-phone").value = "";
      const text = VQ.t("staff.booking_done_book", { time: hhmm(slot) });
      say(null, text);
      S.status(text);
    } catch (problem) {
      if (generation === S.state.generation) say(problem);
    } finally {
      form.removeAttribute("aria-busy");
      $("staff-book-go").disabled = false;
      if (generation === S.state.generation) schedule();
    }
  }

  // ---- The person's page, to send or print ------------------------------------------------

  function showLink(made) {
    const box = $("staff-book-link");
    box.hidden = !(made && made.appointment_id && made.token);
    if (box.hidden) return;
    $("staff-book-link-url").value = location.origin + "/t/" +
      encodeURIComponent(made.appointment_id) + "#token=" + encodeURIComponent(made.token);
    $("staff-book-link-copied").textContent = "";
  }

  async function copyLink() {
    const field = $("staff-book-link-url");
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (e) { // no clipboard API here (or refused): the older way, from the selected field
      field.select();
      try { copied = document.execCommand("copy"); } catch (e2) { copied = false; }
    }
    $("staff-book-link-copied").textContent = copied ? VQ.t("staff.book_link_copied")
      : VQ.t("staff.book_link_copy_failed");
    if (!copied) field.select();
  }

  // ---- Wiring (staff.js calls these) --------------------------------------------------------

  S.bookingsChanged = schedule;

  S.startBookings = function () {
    b.bookings = [];
    b.slots = [];
    b.shownFor = null;
    $("staff-bookings-message").replaceChildren();
    $("staff-bookings-body").replaceChildren();
    $("staff-bookings-table").hidden = true;
    $("staff-bookings-empty").hidden = false;
    $("staff-book-link").hidden = true;
    $("staff-book-link-url").value = "";
    $("staff-bookings").hidden = !takes();
    schedule();
  };

  S.stopBookings = function () {
    clearTimeout(b.debounce);
    $("staff-bookings").hidden = true;
  };

  document.addEventListener("DOMContentLoaded", function () {
    $("staff-bookings-body").addEventListener("click", function (event) {
      const button = event.target.closest("button[data-booking]");
      if (button) checkIn(button.dataset.booking);
    });
    $("staff-book-form").addEventListener("submit", book);
    $("staff-book-link-copy").addEventListener("click", copyLink);
    setInterval(function () {
      if (S.state.place && !$("staff-console").hidden) refresh();
    }, REFRESH_MS);
  });
})();
