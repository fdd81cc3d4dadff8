/* ticket-notify.js: being told about one's ticket (the ticket page, loaded before ticket.js).
 *
 * The "Tell me" panel: opt in by email or text message (each form checks its one field, the
 * server's refusal shows by it), or by web push (the browser's permission, then a push
 * subscription with the server's VAPID key); the list of the ticket's subscriptions, each with
 * a remove button. All with the ticket's token (VQ.credential, set by ticket.js).
 *
 * window.VQTicket.setUpNotify(base)  wire the panel for the ticket at `base` (/v1/tickets/<id>)
 * window.VQTicket.refreshSubscriptions()  read the list again (after the details were deleted)
 * A subscription made or removed here is told to "Your details" (VQTicket.refreshDetails).
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const T = (window.VQTicket = window.VQTicket || {});
  const t = VQ.t;
  const $ = function (id) { return document.getElementById(id); };

  const EMAIL = /^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$/;
  const E164 = /^\+[1-9][0-9]{6,14}$/;

  let base = null; // the ticket's path in the API, given to setUpNotify

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function channelWords(sub) {
    switch (sub.channel) {
      case "email": return t("ticket.channel_email", { address: sub.address });
      case "sms": return t("ticket.channel_sms", { address: sub.address });
      case "whatsapp": return t("ticket.channel_whatsapp", { address: sub.address });
      default: return t("ticket.channel_push");
    }
  }

  function notifyMessage(text) {
    setText("notify-message", text);
  }

  async function loadSubscriptions() {
    let found;
    try {
      found = (await VQ.api(base + "/subscriptions")).subscriptions;
    } catch (problem) {
      return; // the list waits for the next change; the forms still work
    }
    const list = $("subscriptions");
    list.replaceChildren.apply(list, found.map(function (sub) {
      const what = channelWords(sub);
      const remove = VQ.el("button", {
        type: "button", class: "quiet", "aria-label": t("ticket.remove_label", { what: what }),
        onclick: function () { unsubscribe(sub.subscription_id, remove); },
      }, t("ticket.remove"));
      return VQ.el("li", { dataset: { channel: sub.channel } }, VQ.el("span", {}, what), remove);
    }));
    show("subscribed", found.length > 0);
  }

  function detailsChanged() {
    if (T.refreshDetails) T.refreshDetails();
  }

  async function unsubscribe(subscriptionId, button) {
    button.disabled = true;
    try {
      await VQ.api(base + "/subscriptions/" + encodeURIComponent(subscriptionId), {
        method: "DELETE", idempotent: true,
      });
      notifyMessage(t("ticket.removed"));
    } catch (problem) {
      if (problem.status !== 404) notifyMessage(problem.text);
    }
    await loadSubscriptions();
    detailsChanged();
    $("notify-title").focus();
  }

  async function subscribe(body) {
    body.language = VQ.lang;
    await VQ.api(base + "/subscriptions", { method: "POST", body: body, idempotent: true });
    notifyMessage(t("ticket.subscribed"));
    await loadSubscriptions();
    detailsChanged();
  }

  function fieldError(input, errorId, text) {
    input.setAttribute("aria-invalid", text ? "true" : "false");
    setText(errorId, text || "");
    show(errorId, Boolean(text));
    if (text) input.focus();
  }

  // A form that checks its one field, then subscribes; the server's refusal shows by the field.
  function optIn(formId, inputId, errorId, channel, clean, invalid) {
    $(formId).addEventListener("submit", async function (event) {
      event.preventDefault();
      const input = $(inputId);
      const address = clean(input.value);
      notifyMessage("");
      if (!address) {
        fieldError(input, errorId, invalid);
        return;
      }
      fieldError(input, errorId, null);
      const button = event.target.querySelector("button");
      button.disabled = true;
      try {
        await subscribe({ channel: channel, address: address });
        input.value = "";
      } catch (problem) {
        if (problem.status === 422) fieldError(input, errorId, invalid);
        else notifyMessage(problem.text);
      } finally {
        button.disabled = false;
      }
    });
  }

  function cleanEmail(text) {
    const email = text.trim();
    return EMAIL.test(email) ? email : null;
  }

  function cleanPhone(text) {
    // "+44 (0)7700 900123": the trunk 0 in brackets is not dialled from abroad.
    let phone = text.replace(/\(0\)/g, "").replace(/[\s().\-/]/g, "");
    if (phone.startsWith("00")) phone = "+" + phone.slice(2);
    return E164.test(phone) ? phone : null;
  }

  function pushSupported() {
    return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window &&
      "Notification" in window;
  }

  function applicationServerKey(base64url) {
    const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") +
      "=".repeat((4 - (base64url.length % 4)) % 4));
    return Uint8Array.from(text, function (c) { return c.charCodeAt(0); });
  }

  async function pushSubscription() {
    const registration = await navigator.serviceWorker.ready;
    const key = applicationServerKey(
      (await VQ.api("/v1/push/vapid-public-key", { credential: null })).public_key);
    const options = { userVisibleOnly: true, applicationServerKey: key };
    try {
      return await registration.pushManager.subscribe(options);
    } catch (e) {
      // Subscribed before with another server key: start over with this one.
      const old = await registration.pushManager.getSubscription();
      if (!old) throw e;
      await old.unsubscribe();
      return registration.pushManager.subscribe(options);
    }
  }

  async function enablePush(button) {
    notifyMessage("");
    button.disabled = true;
    try {
      if (await Notification.requestPermission() !== "granted") {
        notifyMessage(t("ticket.push_denied"));
        return;
      }
      let made;
      try {
        made = (await pushSubscription()).toJSON();
      } catch (e) {
        if (e instanceof VQ.Problem) throw e;
        notifyMessage(t("ticket.push_failed"));
        return;
      }
      await subscribe({ channel: "push", push_subscription: { endpoint: made.endpoint, keys: made.keys } });
    } catch (problem) {
      notifyMessage(problem.text || t("problem.generic"));
    } finally {
      button.disabled = false;
    }
  }

  T.setUpNotify = function (ticketBase) {
    base = ticketBase;
    optIn("email-form", "email", "email-error", "email", cleanEmail, t("ticket.email_invalid"));
    optIn("sms-form", "phone", "phone-error", "sms", cleanPhone, t("ticket.phone_invalid"));
    $("notify-title").setAttribute("tabindex", "-1");
    if (pushSupported()) {
      show("push", true);
      const button = $("push-button");
      if (Notification.permission === "denied") notifyMessage(t("ticket.push_denied"));
      button.addEventListener("click", function () { enablePush(button); });
    }
    loadSubscriptions();
  };

  T.refreshSubscriptions = loadSubscriptions;
})();
