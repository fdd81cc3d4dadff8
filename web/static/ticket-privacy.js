/* ticket-privacy.js: "Your details" on the ticket page (loaded before ticket.js).
 *
 * What is held about the person on this ticket (GET /v1/tickets/<id>/personal-data with the
 * ticket's token): the kinds of it (a name, an e-mail address...), never the values, and only
 * when something is held. "Delete my details", once confirmed, erases them (DELETE, the same
 * path): the ticket's key is destroyed and its notification subscriptions removed; the place in
 * line stays.
 *
 * window.VQTicket.setUpDetails(base)  wire the area for the ticket at `base` (/v1/tickets/<id>)
 * window.VQTicket.refreshDetails()    read again what is held (after a subscription changed)
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const T = (window.VQTicket = window.VQTicket || {});
  const $ = function (id) { return document.getElementById(id); };
  const KINDS = ["name", "email", "phone", "note", "push"]; // in the order they are named

  let base = null; // the ticket's path in the API, given to setUpDetails
  let reading = 0;

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function kindWord(kind) {
    switch (kind) {
      case "name": return VQ.t("ticket.details_kind_name");
      case "email": return VQ.t("ticket.details_kind_email");
      case "phone": return VQ.t("ticket.details_kind_phone");
      case "note": return VQ.t("ticket.details_kind_note");
      default: return VQ.t("ticket.details_kind_push");
    }
  }

  // The kinds of data held on the ticket(s) of the answer: what was given, how they are told.
  function held(answer) {
    const found = new Set();
    (answer.tickets || []).forEach(function (ticket) {
      const d = ticket.details || {};
      ["name", "email", "phone", "note"].forEach(function (k) { if (d[k]) found.add(k); });
      (ticket.subscriptions || []).forEach(function (sub) {
        found.add(sub.channel === "email" ? "email"
          : sub.channel === "sms" || sub.channel === "whatsapp" ? "phone" : "push");
      });
    });
    return KINDS.filter(function (k) { return found.has(k); });
  }

  function list(words) {
    try {
      return new Intl.ListFormat(VQ.lang, { type: "conjunction" }).format(words);
    } catch (e) {
      return words.join(", ");
    }
  }

  // The area shows while something is held, or while it says the details were deleted.
  function showArea() {
    show("details", !$("details-held-area").hidden || Boolean($("details-message").textContent));
  }

  function closeConfirm() {
    show("details-confirm", false);
    $("details-button").setAttribute("aria-expanded", "false");
  }

  async function refresh() {
    if (!base) return;
    const mine = ++reading;
    let answer;
    try {
      answer = await VQ.api(base + "/personal-data");
    } catch (problem) {
      return; // (no connection, or a link that no longer opens the ticket: nothing to say here)
    }
    if (mine !== reading) return;
    const kinds = held(answer);
    if (kinds.length) {
      setText("details-held", VQ.t("ticket.details_held", { what: list(kinds.map(kindWord)) }));
      setText("details-message", "");
    } else {
      closeConfirm();
    }
    show("details-held-area", kinds.length > 0);
    showArea();
  }

  async function erase() {
    const yes = $("details-yes");
    yes.disabled = true;
    show("details-error", false);
    try {
      await VQ.api(base + "/personal-data", { method: "DELETE", idempotent: true });
      reading += 1; // an answer still on its way is about the details before
      closeConfirm();
      show("details-held-area", false);
      setText("details-message", VQ.t("ticket.details_deleted"));
      showArea();
      $("details-title").focus();
      if (T.refreshSubscriptions) T.refreshSubscriptions();
    } catch (problem) {
      setText("details-error", problem.text || VQ.t("problem.generic"));
      show("details-error", true);
    } finally {
      yes.disabled = false;
    }
  }

  T.setUpDetails = function (ticketBase) {
    base = ticketBase;
    const ask = $("details-button");
    ask.addEventListener("click", function () {
      const opening = $("details-confirm").hidden;
      show("details-confirm", opening);
      ask.setAttribute("aria-expanded", String(opening));
      show("details-error", false);
      if (opening) $("details-no").focus();
    });
    $("details-no").addEventListener("click", function () {
      closeConfirm();
      ask.focus();
    });
    $("details-yes").addEventListener("click", erase);
    refresh();
  };

  T.refreshDetails = refresh;
})();
