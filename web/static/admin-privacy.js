/* admin-privacy.js: the Personal data section (admins: `personal-data:manage`). A person is
 * found by an e-mail address, a phone number or a ticket id (POST /v1/personal-data/export: the
 * address travels in the body, never in a URL, which logs keep); what is held about them is shown
 * per ticket (the details given with it, or when they were erased, and the notification
 * subscriptions); "Download (JSON)" saves the API's answer as it came (the person's right of
 * access); erasing, once confirmed with the number of tickets, destroys each ticket's key and
 * removes its subscriptions (POST /v1/personal-data/erase). Signing out empties the section.
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  // command_api/models.py Email, as the API checks it.
  const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  const EMAIL = new RegExp("^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + LABEL + "(?:\\." + LABEL +
    ")+$");
  const PHONE = /^\+?[0-9 ()./-]{3,32}$/; // privacy_api/models.py Phone
  // The search's field in the body, and how its one input looks for it.
  const KINDS = {
    email: { type: "email", inputmode: "email", maxlength: 254 },
    phone: { type: "tel", inputmode: "tel", maxlength: 32 },
    ticket_id: { type: "text", inputmode: "text", maxlength: 36 },
  };
  // found: {body, answer} of the search shown (what Download saves and Erase names).
  const ui = { message: null, status: null, out: null, found: null, seq: 0 };

  function ticketsWord(n) {
    return VQ.plural("admin.privacy.tickets", n);
  }

  function removedWord(n) {
    return VQ.plural("admin.privacy.subscriptions_removed", n);
  }

  function kindLabel(kind) {
    if (kind === "phone") return VQ.t("admin.privacy.by_phone");
    if (kind === "ticket_id") return VQ.t("admin.privacy.by_ticket");
    return VQ.t("admin.privacy.by_email");
  }

  function kindHint(kind) {
    if (kind === "phone") return VQ.t("admin.privacy.hint_phone");
    if (kind === "ticket_id") return VQ.t("admin.privacy.hint_ticket");
    return VQ.t("admin.privacy.hint_email");
  }

  function channelWord(channel) {
    switch (channel) {
      case "email": return VQ.t("admin.privacy.channel_email");
      case "sms": return VQ.t("admin.privacy.channel_sms");
      case "whatsapp": return VQ.t("admin.privacy.channel_whatsapp");
      case "push": return VQ.t("admin.privacy.channel_push");
      default: return channel;
    }
  }

  function note(text, tone, extra) {
    ui.message.replaceChildren(VQ.el("div", { class: "notice " + (tone || "ok") },
      VQ.el("p", {}, text), extra ? VQ.el("p", {}, extra) : null));
    ui.message.focus();
  }

  // What is read out when a search ends (the list itself is not a live region).
  function status(text) {
    ui.status.textContent = "";
    setTimeout(function () { ui.status.textContent = text; }, 50);
  }

  // ---- one ticket ------------------------------------------------------------------------

  function detailsOf(ticket) {
    const d = ticket.details;
    if (d) {
      const rows = [[VQ.t("admin.privacy.name"), d.name], [VQ.t("admin.privacy.phone"), d.phone],
        [VQ.t("admin.privacy.email"), d.email], [VQ.t("admin.privacy.note"), d.note]];
      return VQ.el("dl", { class: "person-details" }, rows.map(function (row) {
        return VQ.el("div", { class: "person-detail" }, VQ.el("dt", {}, row[0]),
          VQ.el("dd", { class: "break" }, row[1] || "–"));
      }));
    }
    if (ticket.details_erased_at) {
      return VQ.el("p", { class: "person-erased" },
        VQ.t("admin.privacy.erased_on", { when: A.f.when(ticket.details_erased_at) }));
    }
    return VQ.el("p", { class: "muted" }, VQ.t("admin.privacy.no_details"));
  }

  function subscriptionsOf(ticket) {
    const subs = ticket.subscriptions || [];
    if (!subs.length) return VQ.el("p", { class: "muted" }, VQ.t("admin.privacy.no_subscriptions"));
    return [VQ.el("h4", { class: "person-subs-title" }, VQ.t("admin.privacy.subscriptions")),
      VQ.el("ul", { class: "person-subscriptions" }, subs.map(function (sub) {
        return VQ.el("li", { class: "break", dataset: { channel: sub.channel } },
          VQ.el("strong", {}, channelWord(sub.channel)), " ", sub.address,
          sub.cancelled_at ? VQ.el("span", { class: "muted" }, " " +
            VQ.t("admin.privacy.stopped_on", { when: A.f.when(sub.cancelled_at) })) : null);
      }))];
  }

  function ticketPanel(ticket) {
    const id = A.f.uid("person-ticket");
    return VQ.el("article", { class: "panel person-ticket", "aria-labelledby": id,
      dataset: { ticketId: ticket.ticket_id } },
    VQ.el("h3", { id: id, class: "person-ticket-title" }, VQ.t("admin.privacy.ticket"), " ",
      VQ.el("span", { class: "mono break" }, ticket.ticket_id)),
    detailsOf(ticket), subscriptionsOf(ticket));
  }

  // ---- the search, its file, the erasure -------------------------------------------------

  function render(answer) {
    const tickets = answer.tickets || [];
    if (!tickets.length) {
      ui.out.replaceChildren(VQ.el("p", { class: "muted" }, VQ.t("admin.privacy.none")));
      status(VQ.t("admin.privacy.none"));
      return;
    }
    const save = VQ.el("button", { type: "button", class: "secondary", id: "privacy-download",
      onclick: download }, VQ.t("admin.privacy.download"));
    const erase = VQ.el("button", { type: "button", class: "secondary danger-text",
      id: "privacy-erase" }, VQ.t("admin.privacy.erase"));
    erase.addEventListener("click", function () { askErase(erase); });
    const found = VQ.t("admin.privacy.found", { tickets: ticketsWord(tickets.length) });
    ui.out.replaceChildren(VQ.el("p", { class: "person-found" }, found),
      VQ.el("div", { class: "row toolbar person-actions" }, save, erase),
      VQ.el("div", { class: "person-tickets" }, tickets.map(ticketPanel)));
    status(found);
  }

  async function find(body) {
    const mine = ++ui.seq;
    ui.found = null;
    ui.message.replaceChildren();
    ui.out.replaceChildren(A.f.loading());
    const answer = await VQ.api("/v1/personal-data/export", { method: "POST", body: body });
    if (mine !== ui.seq) return;
    ui.found = { body: body, answer: answer };
    render(answer);
  }

  // The answer as the API gave it, as a file (made here: nothing is fetched again).
  function download() {
    if (!ui.found) return;
    const name = "personal-data-" + new Date().toISOString().slice(0, 10) + ".json";
    const blob = new Blob([JSON.stringify(ui.found.answer, null, 2) + "\n"],
      { type: "application/json" });
    const link = VQ.el("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    A.say(VQ.t("admin.privacy.downloaded", { name: name }));
  }

  function askErase(button) {
    const n = ui.found ? ui.found.answer.tickets.length : 0;
    const question = VQ.plural("admin.privacy.confirm", n);
    A.f.confirm(button, question, erase);
  }

  async function erase() {
    const asked = ui.found;
    if (!asked) return;
    try {
      const done = await VQ.api("/v1/personal-data/erase", { method: "POST", body: asked.body });
      ui.seq += 1;
      ui.found = null;
      ui.out.replaceChildren();
      if (!done.keys_destroyed.length && !done.subscriptions_removed) {
        note(VQ.t("admin.privacy.already_erased"), "warn");
      } else {
        note(VQ.t("admin.privacy.erased", { tickets: ticketsWord(done.tickets.length),
          removed: removedWord(done.subscriptions_removed) }), "ok",
        VQ.t("admin.privacy.erased_hint"));
      }
    } catch (problem) {
      const text = A.problemText(problem);
      if (text !== null) note(text, "bad");
    }
  }

  function searchForm() {
    const f = A.f;
    const kind = f.field({ name: "kind", type: "select", label: VQ.t("admin.privacy.find_by"),
      value: "email", options: Object.keys(KINDS).map(function (k) { return [k, kindLabel(k)]; }) });
    const value = f.field({ name: "value", label: kindLabel("email"), hint: kindHint("email"),
      required: true, attrs: { autocomplete: "off", spellcheck: "false" } });
    const label = value.wrap.querySelector("label");
    const hint = value.wrap.querySelector(".hint");
    function follow() {
      const k = kind.input.value;
      const how = KINDS[k];
      label.textContent = kindLabel(k);
      hint.textContent = kindHint(k);
      value.input.type = how.type;
      value.input.setAttribute("inputmode", how.inputmode);
      value.input.setAttribute("maxlength", String(how.maxlength));
    }
    follow();
    kind.input.addEventListener("change", function () { f.clear(form); follow(); });
    const form = f.form("privacy-search", async function (node) {
      const k = kind.input.value;
      const text = value.input.value.trim();
      const wrong = !text ? VQ.t("admin.privacy.value_required")
        : k === "email" && !EMAIL.test(text) ? VQ.t("admin.privacy.email_invalid")
          : k === "phone" && !PHONE.test(text) ? VQ.t("admin.privacy.phone_invalid")
            : k === "ticket_id" && !UUID.test(text) ? VQ.t("admin.privacy.ticket_invalid") : null;
      if (f.invalid(node, wrong ? [["value", wrong]] : [])) return;
      const body = {};
      body[k] = text;
      try {
        await find(body);
      } catch (problem) {
        ui.out.replaceChildren();
        throw problem; // shown on the form
      }
    }, VQ.el("div", { class: "row privacy-controls" }, kind.wrap, value.wrap),
    f.actions(VQ.el("button", { type: "submit", id: "privacy-find" }, VQ.t("admin.privacy.find"))));
    return form;
  }

  function build(body) {
    ui.message = VQ.el("div", { class: "section-message", role: "status", tabindex: "-1" });
    ui.status = VQ.el("p", { class: "visually-hidden", "aria-live": "polite" });
    ui.out = VQ.el("div", { class: "person-out", id: "privacy-out" });
    body.append(searchForm(), ui.status, ui.message, ui.out);
  }

  A.register("privacy", {
    permission: "personal-data:manage",
    build: build,
    show: function () {},
    reset: function () { ui.found = null; ui.seq += 1; },
  });
})();
