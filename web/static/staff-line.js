/* staff-line.js: what the staff console draws: the person at my counter, every counter, the
 * line. Reads VQ.staff.state (staff.js); never calls a command (staff-actions.js does). */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const el = VQ.el;
  const STATUS_KEYS = { called: "staff.status_called", serving: "staff.status_serving" };
  // The priority classes every queue starts with, in the page's language (as the dashboard and
  // the board name them); a class an organisation made up is shown as it is written.
  const PRIORITY = {
    emergency: VQ.t("staff.priority_name.emergency"),
    urgent: VQ.t("staff.priority_name.urgent"),
    vip: VQ.t("staff.priority_name.vip"),
    normal: VQ.t("staff.priority_name.normal"),
  };

  function priorityName(name) {
    return Object.prototype.hasOwnProperty.call(PRIORITY, name) ? PRIORITY[name] : String(name);
  }
  S.priorityName = priorityName;

  // ---- Times in words ------------------------------------------------------------------------

  function duration(seconds) {
    const minutes = Math.floor(Math.max(0, seconds) / 60);
    if (minutes < 1) return VQ.t("common.less_than_a_minute");
    if (minutes < 60) return VQ.t("common.minutes", { n: minutes });
    return VQ.t("staff.hours_minutes", { h: Math.floor(minutes / 60), m: minutes % 60 });
  }
  S.duration = duration;

  // On the API's clock (VQ.now()): a demo's may run fast, a PC's may drift.
  function since(iso) {
    return iso ? (VQ.now() - VQ.parseTime(iso)) / 1000 : null;
  }

  function estimate(range) {
    if (!range || !range.p10_at || !range.p90_at) return "—";
    const now = VQ.now();
    const low = Math.max(0, Math.round((VQ.parseTime(range.p10_at) - now) / 60000));
    const high = Math.max(0, Math.ceil((VQ.parseTime(range.p90_at) - now) / 60000));
    if (high < 1) return VQ.t("common.less_than_a_minute");
    if (low >= high) return VQ.t("common.minutes", { n: high });
    return VQ.t("common.minute_range", { low: low, high: high });
  }

  // ---- The person at my counter --------------------------------------------------------------

  S.atMyCounter = function () {
    const st = S.state;
    if (!st.view || !st.place) return null;
    return st.view.now_serving.find(function (c) { return c.counter === st.place.counter; }) || null;
  };

  let detail = null; // GET /v1/tickets/{id} of the person at my counter: {key, ticket}
  async function readDetail(entry) {
    const key = entry.ticket_id + ":" + entry.status + ":" + (entry.view_version || S.state.view.version);
    if (detail && detail.key === key) return;
    detail = { key: key, ticket: detail && detail.ticket && detail.ticket.ticket_id === entry.ticket_id
      ? detail.ticket : null };
    try {
      const ticket = await VQ.api("/v1/tickets/" + entry.ticket_id);
      if (detail.key !== key) return;
      detail.ticket = ticket;
      drawCurrent();
    } catch (e) { /* the number and status are shown already */ }
  }

  function facts(ticket) {
    const parts = [];
    if (ticket.service_type) parts.push(VQ.t("staff.fact_service", { service: ticket.service_type }));
    parts.push(VQ.t("staff.fact_priority", { priority: priorityName(ticket.priority) }));
    const waited = ticket.waited_seconds !== null && ticket.waited_seconds !== undefined
      ? ticket.waited_seconds : null;
    if (waited !== null) parts.push(VQ.t("staff.fact_waited", { wait: duration(waited) }));
    if (ticket.status === "called" && ticket.called_at) {
      parts.push(VQ.t("staff.fact_called_ago", { wait: duration(since(ticket.called_at)) }));
    }
    if (ticket.status === "serving" && ticket.started_at) {
      parts.push(VQ.t("staff.fact_serving_for", { wait: duration(since(ticket.started_at)) }));
    }
    if (ticket.recall_count) parts.push(VQ.plural("staff.fact_recalled", ticket.recall_count));
    return parts;
  }

  function drawCurrent() {
    const box = $("staff-current");
    const entry = S.atMyCounter();
    box.replaceChildren();
    box.classList.toggle("is-busy", Boolean(entry));
    if (!S.state.view) {
      box.append(el("p", { class: "muted", text: VQ.t("common.loading") }));
      return;
    }
    if (!entry) {
      detail = null;
      box.append(el("p", { class: "staff-free", text: VQ.t("staff.desk_free") }));
      return;
    }
    readDetail(entry);
    const ticket = detail && detail.ticket && detail.ticket.ticket_id === entry.ticket_id
      ? detail.ticket : null;
    box.append(
      el("p", { class: "staff-now" },
        el("span", { class: "visually-hidden", text: VQ.t("staff.at_counter_now") + " " }),
        el("span", { class: "staff-number", id: "staff-current-number", text: entry.number }),
        entry.queue_name ? el("span", { class: "staff-from", id: "staff-current-queue",
          text: VQ.t("staff.multi_from", { queue: entry.queue_name }) }) : null,
        el("span", { class: "staff-badge staff-badge-" + entry.status,
          text: VQ.t(STATUS_KEYS[entry.status] || "staff.status_called") })),
      ticket ? el("ul", { class: "staff-facts" }, facts(ticket).map(function (f) {
        return el("li", { text: f });
      })) : null);
  }

  // ---- Every counter -------------------------------------------------------------------------

  function away(view, counter) {
    const found = VQ.breakOf(view, counter);
    return found ? S.backAt(view, found) : VQ.t("staff.counter_free");
  }

  function drawCounters(view) {
    const list = $("staff-counter-list");
    list.replaceChildren();
    const mine = S.state.place.counter;
    view.counters.forEach(function (counter) {
      // Mine: whoever is at it in any of the queues it serves (staff-multi.js).
      const entry = counter === mine ? S.atMyCounter()
        : view.now_serving.find(function (c) { return c.counter === counter; });
      const label = VQ.counterLabel(counter, "staff.counter_named");
      const name = counter === mine ? VQ.t("staff.counter_mine", { counter: label }) : label;
      list.append(el("li", { class: "staff-counter" + (counter === mine ? " is-mine" : "") +
          (entry ? " is-busy" : ""), "aria-current": counter === mine ? "true" : null },
        el("span", { class: "staff-counter-name", text: name }),
        entry ? el("span", { class: "staff-counter-ticket" },
          el("strong", { text: entry.number }), " ",
          el("span", { class: "staff-badge staff-badge-" + entry.status,
            text: VQ.t(STATUS_KEYS[entry.status] || "staff.status_called") }))
          : el("span", { class: "muted", text: away(view, counter) })));
    });
  }

  // ---- Service types the next call may be limited to ----------------------------------------

  let typesShown = null;
  function drawTypes(view) {
    const types = view.service_types || [];
    const sign = types.join("\u0000");
    // Serving several queues, the call is the longest wait among them, of any service.
    $("staff-types").hidden = types.length === 0 || Boolean(S.multiOn && S.multiOn());
    if (sign === typesShown) return;
    typesShown = sign;
    const chosen = S.state.place.service_types || [];
    const list = $("staff-types-list");
    list.replaceChildren();
    types.forEach(function (type, index) {
      const id = "staff-type-" + index;
      list.append(el("div", { class: "staff-check" },
        el("input", { type: "checkbox", id: id, value: type, checked: chosen.indexOf(type) >= 0,
          onchange: function () {
            S.state.place.service_types = Array.from(
              list.querySelectorAll("input:checked"), function (i) { return i.value; });
            S.savePlace();
          } }),
        el("label", { for: id, text: type })));
    });
  }

  // ---- The whole view ------------------------------------------------------------------------

  S.drawView = function () {
    const st = S.state;
    if (!st.place) return;
    $("staff-desk-title").textContent = VQ.t("staff.desk_title", { counter: st.place.counter });
    drawCurrent();
    if (S.drawActions) S.drawActions();
    if (S.drawMissed) S.drawMissed();
    const view = st.view;
    if (S.drawBreak) S.drawBreak(view);
    if (S.drawQueueDay) S.drawQueueDay(view);
    if (!view) {
      $("staff-counter-list").replaceChildren();
      typesShown = null;
      $("staff-types").hidden = true;
      return;
    }
    drawCounters(view);
    drawTypes(view);
    $("staff-line-count").textContent = "(" + view.waiting + ")";
    const note = $("staff-queue-state");
    note.hidden = view.status === "open";
    note.textContent = view.status === "paused" ? VQ.t("staff.queue_paused")
      : view.status === "closed" ? VQ.t("staff.queue_closed") : "";
  };

  // ---- The line ------------------------------------------------------------------------------

  function rowButton(action, ticket, key) {
    return el("button", { type: "button", class: "secondary staff-row-button",
      dataset: { action: action, ticket: ticket.ticket_id } },
    VQ.t(key), el("span", { class: "visually-hidden", text: " " + ticket.number }));
  }

  function row(ticket) {
    const cell = function (key, value, cls) {
      return el("td", { "data-label": VQ.t(key), class: cls || null }, value);
    };
    return el("tr", { dataset: { ticket: ticket.ticket_id } },
      cell("staff.col_position", String(ticket.position || "")),
      cell("staff.col_number", el("strong", { class: "staff-line-number", text: ticket.number })),
      cell("staff.col_priority", priorityName(ticket.priority), "staff-priority staff-priority-" +
        (ticket.priority === (S.state.view && S.state.view.priority_classes[0]) ? "top" : "other")),
      cell("staff.col_service", ticket.service_type || "—"),
      cell("staff.col_waited", duration(since(ticket.enqueued_at))),
      cell("staff.col_estimate", estimate(ticket.estimate)),
      el("td", { class: "staff-row-actions" },
        rowButton("call-this", ticket, "staff.call_this"),
        rowButton("priority", ticket, "staff.priority"),
        rowButton("transfer", ticket, "staff.transfer")));
  }

  S.drawLine = function () {
    const line = S.state.line;
    const body = $("staff-line-body");
    const focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.dataset : null;
    const empty = $("staff-line-empty");
    if (!line) {
      body.replaceChildren();
      $("staff-line-table").hidden = true;
      empty.hidden = false;
      empty.textContent = VQ.t("common.loading");
      $("staff-line-more").hidden = true;
      return;
    }
    body.replaceChildren.apply(body, line.tickets.map(row));
    $("staff-line-table").hidden = line.tickets.length === 0;
    empty.hidden = line.tickets.length > 0;
    empty.textContent = VQ.t("staff.line_empty");
    $("staff-line-more").hidden = line.total <= line.tickets.length;
    if (S.markPending) S.markPending();
    if (focused && focused.action) {
      const again = body.querySelector('button[data-action="' + focused.action + '"][data-ticket="' +
        focused.ticket + '"]');
      (again || $("staff-line-title")).focus({ preventScroll: true });
    }
  };
})();
