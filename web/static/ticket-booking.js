/* ticket-booking.js: a booking on the ticket page (loaded before ticket.js).
 *
 * A booking's id is its ticket's once checked in, and its token opens both: before the check-in
 * there is no ticket to follow (GET /v1/tickets/<id>/events is a 404), so ticket.js asks here.
 * "Your booking" (GET /v1/appointments/<id> with the token): when (the slot, in this browser's
 * time zone, named), the service, the status in words; while booked, "I'm here: check in" (POST
 * .../check-in: a refusal, too early or too late, says why in the page's words: the API's detail
 * is English, for developers, and goes to the console only) and "Cancel my booking" after a
 * confirmation (POST .../cancel). Once checked in, ticket.js follows the ticket as it does from
 * the start. The page speaks the booking's language, as a ticket's page does (ticket.js).
 * (Moving the booking to another time needs the free slots, which only a key reads: not here.)
 *
 * window.VQTicket.setUpBooking(id, onCheckedIn, switchLanguage)  wire the view; onCheckedIn(answer)
 *                                after a check-in (the command's answer); switchLanguage(booking)
 *                                true when the page is replaced in the booking's language
 * window.VQTicket.showBooking()   read the booking and show it; resolves to it (throws
 *                                VQ.Problem: a 404 when there is no booking of that id)
 * window.VQTicket.hideBooking()  the ticket is there: the booking's view goes
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const T = (window.VQTicket = window.VQTicket || {});
  const $ = function (id) { return document.getElementById(id); };

  let path = null; // /v1/appointments/<id>
  let checkedIn = function () {};
  let switchLanguage = function () { return false; };
  let current = null; // the booking last shown

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  // The API writes microseconds; Date.parse is only specified for milliseconds.
  function parse(iso) {
    return Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  }

  // A moment in this browser's zone, named ("Tuesday, 4 June, 12:15 CEST"); the day is left out
  // when it is today (for "check-in opens at ...").
  function when(ms, withDay) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    if (withDay) Object.assign(options, { weekday: "long", day: "numeric", month: "long" });
    try {
      return new Intl.DateTimeFormat(VQ.lang, options).format(new Date(ms));
    } catch (e) {
      return new Date(ms).toLocaleString();
    }
  }

  function sameDay(ms) {
    return new Date(ms).toDateString() === new Date(VQ.now()).toDateString();
  }

  function statusWord(status) {
    switch (status) {
      case "booked": return VQ.t("ticket.booking_booked");
      case "checked_in": return VQ.t("ticket.booking_checked_in");
      case "cancelled": return VQ.t("ticket.booking_cancelled");
      case "missed": return VQ.t("ticket.booking_missed");
      default: return status;
    }
  }

  // [headline, detail] for the booking's status.
  function words(status) {
    switch (status) {
      case "booked":
        return [VQ.t("ticket.booking_headline_booked"), VQ.t("ticket.booking_detail_booked")];
      case "checked_in":
        return [VQ.t("ticket.booking_headline_checked_in"),
          VQ.t("ticket.booking_detail_checked_in")];
      case "cancelled":
        return [VQ.t("ticket.booking_headline_cancelled"), VQ.t("ticket.booking_detail_cancelled")];
      case "missed":
        return [VQ.t("ticket.booking_headline_missed"), VQ.t("ticket.booking_detail_missed")];
      default: return ["", ""];
    }
  }

  function render(booking) {
    current = booking;
    const status = booking.status;
    show("loading", false);
    show("broken", false);
    show("booking", true);
    $("booking").className = "card booking booking-" + status;
    const said = words(status);
    setText("booking-headline", said[0]);
    setText("booking-detail", said[1]);
    setText("booking-when", when(parse(booking.slot_at), true));
    show("booking-service-fact", Boolean(booking.service_type));
    setText("booking-service", booking.service_type || "");
    setText("booking-status", statusWord(status));
    document.title = VQ.t("ticket.booking_doc", { status: statusWord(status) }) + " · " +
      VQ.t("common.product");
    const open = status === "booked";
    show("booking-arrive", open);
    show("booking-cancel", open);
    if (!open) {
      show("booking-cancel-confirm", false);
      $("booking-cancel-button").setAttribute("aria-expanded", "false");
    }
  }

  async function showBooking() {
    const booking = await VQ.api(path);
    if (!switchLanguage(booking)) render(booking); // else the page comes again, in its language
    return booking;
  }

  function hideBooking() {
    show("booking", false);
    show("booking-cancel", false);
  }

  // ---- I'm here: check in ------------------------------------------------------------------

  // The refusal in the person's words only: the API's detail (English, with raw timestamps) is
  // for whoever reads the console.
  function refused(problem) {
    if (problem.detail) console.info("check-in refused:", problem.detail);
    let text = problem.text;
    if (problem.code === "rule-violated") {
      // The problem says when check-in opens (`opens_at`, an extension member).
      const at = problem.body && problem.body.opens_at ? parse(problem.body.opens_at) : NaN;
      if (isNaN(at)) text = VQ.t("ticket.booking_too_early");
      else if (sameDay(at)) text = VQ.t("ticket.booking_opens_at", { time: when(at, false) });
      else text = VQ.t("ticket.booking_opens_on", { time: when(at, true) });
    } else if (problem.code === "grace-expired") {
      text = VQ.t("ticket.booking_too_late");
    }
    setText("booking-problem-text", text);
    show("booking-problem", true);
  }

  async function checkIn() {
    const button = $("booking-check-in");
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    show("booking-problem", false);
    try {
      checkedIn(await VQ.api(path + "/check-in", { method: "POST", body: {}, idempotent: true }));
    } catch (problem) {
      refused(problem);
      if (problem.status === 409) showBooking().catch(function () { /* the last view stays */ });
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  // ---- Cancel my booking -------------------------------------------------------------------

  function setUpCancel() {
    const ask = $("booking-cancel-button");
    const confirm = $("booking-cancel-confirm");
    function close() {
      confirm.hidden = true;
      ask.setAttribute("aria-expanded", "false");
    }
    ask.addEventListener("click", function () {
      const opening = confirm.hidden;
      confirm.hidden = !opening;
      ask.setAttribute("aria-expanded", String(opening));
      show("booking-cancel-message", false);
      if (opening) $("booking-cancel-no").focus();
    });
    $("booking-cancel-no").addEventListener("click", function () {
      close();
      ask.focus();
    });
    $("booking-cancel-yes").addEventListener("click", async function () {
      const yes = $("booking-cancel-yes");
      yes.disabled = true;
      show("booking-problem", false);
      try {
        await VQ.api(path + "/cancel", { method: "POST", body: {}, idempotent: true });
        close();
        try {
          await showBooking();
        } catch (e) {
          render(Object.assign({}, current, { status: "cancelled" }));
        }
        $("booking-title").focus();
      } catch (problem) {
        setText("booking-cancel-message", problem.text);
        show("booking-cancel-message", true);
        if (problem.status === 409) showBooking().catch(function () { /* the last view stays */ });
      } finally {
        yes.disabled = false;
      }
    });
  }

  T.setUpBooking = function (id, onCheckedIn, inItsLanguage) {
    path = "/v1/appointments/" + encodeURIComponent(id);
    checkedIn = onCheckedIn;
    switchLanguage = inItsLanguage;
    $("booking-check-in").addEventListener("click", checkIn);
    setUpCancel();
  };
  T.showBooking = showBooking;
  T.hideBooking = hideBooking;
})();
