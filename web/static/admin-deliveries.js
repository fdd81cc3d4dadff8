/* admin-deliveries.js: an endpoint's delivery log (GET .../deliveries: the newest messages, each
 * with every attempt: when, the outcome, the HTTP status, how long, the answer's first bytes)
 * and replays (POST .../replay: one message, or every message since a time; the same ids, so a
 * receiver that dedupes sees each once).
 *
 * VQ.admin.deliveries(endpoint, showPanel)  showPanel(title, parts) puts it on the page
 */
(function () {
  "use strict";

  const A = VQ.admin;
  const STATUSES = ["sending", "delivered", "retrying", "dead", "replaying"];
  const LIMIT = 50;

  function t(key, vars) { return VQ.admin.word("deliveries", key, vars); }

  function path(endpoint, tail) {
    return "/v1/webhooks/endpoints/" + encodeURIComponent(endpoint.endpoint_id) + tail;
  }

  function latency(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return t("ms", { n: Math.round(seconds * 1000) });
  }

  function attempts(delivery) {
    const f = A.f;
    if (!delivery.history.length) return VQ.el("p", { class: "muted" }, t("no_attempts"));
    const rows = delivery.history.map(function (a) {
      return f.row([f.when(a.at), (a.replay ? t("replay_n", { n: a.replay }) + " · " : "") +
        t("attempt_n", { n: a.attempt }), VQ.el("span", { class: "outcome outcome-" + a.outcome },
        t("outcome." + a.outcome)), a.status === null ? "–" : String(a.status), latency(a.seconds),
      VQ.el("code", { class: "excerpt" }, a.excerpt || "")]);
    });
    return f.table(t("attempts_caption", { id: delivery.message_id }), [t("col.at"),
      t("col.attempt"), t("col.outcome"), t("col.status"), t("col.latency"), t("col.excerpt")],
    rows, "attempts");
  }

  function delivery(endpoint, d, say, reload) {
    const replay = VQ.el("button", { type: "button", class: "secondary", "data-action": "replay" },
      t("replay"), VQ.el("span", { class: "visually-hidden" }, " " + d.message_id));
    replay.addEventListener("click", async function () {
      replay.disabled = true;
      try {
        const done = await VQ.api(path(endpoint, "/replay"), { method: "POST",
          body: { message_id: d.message_id } });
        say(VQ.plural("admin.deliveries.replayed", done.replayed), "ok");
        reload();
      } catch (problem) {
        say(A.problemText(problem), "bad");
      } finally {
        replay.disabled = false;
      }
    });
    return VQ.el("li", { class: "delivery", "data-message-id": d.message_id },
      VQ.el("div", { class: "row delivery-head" },
        VQ.el("span", { class: "status delivery-" + d.status }, t("status." + d.status)),
        VQ.el("strong", {}, d.topic), VQ.el("code", { class: "small" }, d.message_id),
        VQ.el("span", { class: "muted" }, A.f.when(d.created_at)), replay),
      d.last_error ? VQ.el("p", { class: "small error-text" }, d.last_error) : null,
      attempts(d));
  }

  function replaySince(endpoint, say, reload) {
    const f = A.f;
    const since = f.field({ name: "since", type: "datetime-local", label: t("since"),
      hint: t("since_hint"), required: true });
    const dead = f.field({ name: "dead_only", type: "checkbox", label: t("dead_only") });
    return f.form(f.uid("replay"), async function (node) {
      const moment = new Date(since.input.value);
      if (!since.input.value || isNaN(moment.getTime())) {
        f.invalid(node, [["since", t("since_hint")]]);
        return;
      }
      const done = await VQ.api(path(endpoint, "/replay"), { method: "POST",
        body: { since: moment.toISOString(), dead_only: dead.input.checked } });
      f.clear(node);
      say(VQ.plural("admin.deliveries.replayed", done.replayed), "ok");
      reload();
    }, f.group({ legend: t("replay_since") }, since.wrap, dead.wrap),
    f.actions(VQ.el("button", { type: "submit", class: "secondary" }, t("replay_since_go"))));
  }

  function deliveries(endpoint, showPanel) {
    const f = A.f;
    const message = VQ.el("div", { class: "section-message", role: "status" });
    const list = VQ.el("div", { class: "deliveries" }, f.loading());
    const status = f.field({ name: "status", type: "select", label: t("filter"), value: "",
      options: [["", t("every_status")]].concat(STATUSES.map(function (s) {
        return [s, t("status." + s)];
      })) });
    function say(text, tone) {
      if (text === null) return;
      message.replaceChildren(VQ.el("p", { class: "notice " + tone }, text));
    }
    async function reload() {
      const filter = status.input.value ? "&status=" + encodeURIComponent(status.input.value) : "";
      try {
        const log = await VQ.api(path(endpoint, "/deliveries?limit=" + LIMIT + filter));
        list.replaceChildren(log.deliveries.length
          ? VQ.el("ul", { class: "delivery-list" }, log.deliveries.map(function (d) {
            return delivery(endpoint, d, say, reload);
          }))
          : VQ.el("p", { class: "muted" }, t("empty")));
      } catch (problem) {
        A.fail(list, problem, reload);
      }
    }
    status.input.addEventListener("change", reload);
    const refresh = VQ.el("button", { type: "button", class: "secondary", onclick: reload },
      t("refresh"));
    showPanel(t("title", { url: endpoint.url }), [
      VQ.el("div", { class: "row toolbar align-end" }, status.wrap, refresh),
      message, list, replaySince(endpoint, say, reload)]);
    reload();
  }

  A.deliveries = deliveries;
})();
