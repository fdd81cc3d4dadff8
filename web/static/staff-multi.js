/* staff-multi.js: one counter serving several queues. In the setup form the person ticks the other
 * queues this counter also serves: only their queues that have a counter of the same name (the
 * call comes to this counter in the queue the person is taken from, so the queue must have it).
 * The choice is remembered per organisation and counter on this device.
 *
 * While it is on, "Call next" (and N) is POST /v1/counters/call-next with those queues and the
 * "longest wait" rule; the person at my counter may be from any of them (the queue's name is shown
 * beside the number) and start, complete, no-show work on their ticket whatever its queue. The
 * other queues' views are read with GET /v1/queues (one request for all of them): after this
 * console's own commands (read-your-write) and every few seconds, not with a live stream each
 * (a person may hold only a few streams). A "waiting per queue" summary shows every served queue.
 */
(function () {
  "use strict";

  const S = VQ.staff = VQ.staff || {};
  const $ = function (id) { return document.getElementById(id); };
  const el = VQ.el;
  const REFRESH_MS = 5000;
  const STATUS_KEYS = { paused: "staff.multi_paused", closed: "staff.multi_closed" };

  function st() { return S.state; }

  // ---- Remembered per organisation and counter ----------------------------------------------

  function servesKey(counter) {
    return "vq.staff.serves." + st().me.tenant_id + "." + counter;
  }

  // The queues (ids) this counter serves, as last chosen here (the main one among them).
  function savedServes(counter) {
    try {
      const list = JSON.parse(VQ.store.get(servesKey(counter)));
      return Array.isArray(list) ? list.filter(function (id) { return typeof id === "string"; }) : [];
    } catch (e) { return []; }
  }

  // Mine (the console lists only those) and with a counter of that name, other than `main`.
  function candidates(mainId, counter) {
    return st().queues.filter(function (q) {
      return q.queue_id !== mainId && q.counters.indexOf(counter) >= 0;
    });
  }

  // ---- The setup form: tick the other queues ------------------------------------------------

  S.fillServes = function () {
    const mainId = $("staff-queue").value;
    const counter = $("staff-counter").value;
    const box = $("staff-multi-list");
    const others = counter ? candidates(mainId, counter) : [];
    const place = st().place;
    // What is ticked now (the person is choosing), else what this counter served last time.
    const choosing = !$("staff-setup").hidden && box.children.length > 0;
    const ticked = choosing && box.dataset.counter === counter
      ? Array.from(box.querySelectorAll("input:checked"), function (i) { return i.value; })
      : place && place.counter === counter && place.queue_id === mainId && st().serves
        ? st().serves : savedServes(counter);
    box.dataset.counter = counter;
    box.replaceChildren.apply(box, others.map(function (q, index) {
      const id = "staff-serve-" + index;
      return el("div", { class: "staff-check" },
        el("input", { type: "checkbox", id: id, value: q.queue_id,
          checked: ticked.indexOf(q.queue_id) >= 0 }),
        el("label", { for: id, text: q.name }));
    }));
    // Shown to whoever works more than one queue; says why a queue is not offered.
    $("staff-multi").hidden = st().queues.length < 2;
    $("staff-multi-none").hidden = others.length > 0;
    $("staff-multi-none").textContent = VQ.t("staff.multi_none", { counter: counter });
  };

  // The setup form was sent: remember what is ticked for this counter (the main queue first).
  S.keepServes = function () {
    const place = st().place;
    const box = $("staff-multi-list");
    const ticked = $("staff-multi").hidden ? []
      : Array.from(box.querySelectorAll("input:checked"), function (i) { return i.value; });
    VQ.store.set(servesKey(place.counter),
      ticked.length ? JSON.stringify([place.queue_id].concat(ticked)) : null);
    box.replaceChildren();
  };

  // ---- At work --------------------------------------------------------------------------------

  let timer = null;
  let generation = 0;

  S.multiOn = function () {
    return Boolean(st().place && st().serves && st().serves.length);
  };

  S.startMulti = function () {
    const place = st().place;
    const usable = candidates(place.queue_id, place.counter).map(function (q) { return q.queue_id; });
    st().serves = savedServes(place.counter).filter(function (id) { return usable.indexOf(id) >= 0; });
    st().others = {};
    generation += 1;
    clearInterval(timer);
    timer = null;
    draw();
    if (!S.multiOn()) return;
    refresh();
    timer = setInterval(function () {
      if (!document.hidden && !$("staff-console").hidden) refresh();
    }, REFRESH_MS);
  };

  S.stopMulti = function () {
    generation += 1;
    clearInterval(timer);
    timer = null;
    st().serves = [];
    st().others = {};
  };

  function take(view) {
    const known = st().others[view.queue_id];
    if (st().serves.indexOf(view.queue_id) < 0 || (known && view.version < known.version)) return false;
    st().others[view.queue_id] = view;
    return true;
  }

  // Every served queue's view at once; `queueId` and `version`: once that one has our write.
  async function refresh(queueId, version) {
    const mine = generation;
    let path = "/v1/queues";
    if (queueId) path += "?queue_id=" + encodeURIComponent(queueId) + "&min_version=" + version + "&wait=5";
    try {
      const listed = await VQ.api(path);
      if (mine !== generation) return;
      listed.queues.forEach(take);
      S.drawView();
    } catch (problem) {
      if (mine !== generation || problem.code === "stale-read" || problem.status === 0) return;
      S.problem(problem);
    }
  }

  // staff.js: this console's own command changed another served queue.
  S.readOther = function (queueId, version) {
    if (S.multiOn() && st().serves.indexOf(queueId) >= 0) refresh(queueId, version);
  };

  function viewOf(queueId) {
    return queueId === st().place.queue_id ? st().view : st().others[queueId] || null;
  }

  function served() {
    return [st().place.queue_id].concat(st().serves);
  }

  S.served = served;
  S.viewOf = viewOf;

  function nameOf(queueId) {
    const view = viewOf(queueId);
    const queue = S.queueById(queueId);
    return (view && view.name) || (queue && queue.name) || "";
  }

  S.nameOf = nameOf;

  // The person at my counter, in whichever served queue (tagged with it while serving several).
  const atMainCounter = S.atMyCounter;
  S.atMyCounter = function () {
    const main = atMainCounter();
    if (!S.multiOn()) return main;
    const counter = st().place.counter;
    const found = served().map(function (queueId) {
      const view = viewOf(queueId);
      const entry = queueId === st().place.queue_id ? main
        : view && view.now_serving.find(function (c) { return c.counter === counter; });
      return entry ? Object.assign({}, entry, { queue_id: queueId, queue_name: nameOf(queueId),
        view_version: view ? view.version : 0 }) : null;
    }).filter(Boolean);
    return found[0] || null;
  };

  // staff-actions.js: what "Call next" sends while serving several queues (null: the one queue).
  S.multiCall = function () {
    if (!S.multiOn()) return null;
    return {
      path: "/v1/counters/call-next",
      body: { counter: st().place.counter, queue_ids: served(), rule: "longest_wait" },
      done: function (answer) {
        const ticket = answer.ticket || {};
        S.status(VQ.t("staff.multi_done_called", { number: ticket.number || "",
          queue: nameOf(answer.queue_id), counter: S.counterLabel() }));
      },
    };
  };

  // ---- Drawing: where I am, the summary -----------------------------------------------------

  function listed(names) {
    try {
      return new Intl.ListFormat(VQ.lang, { type: "conjunction" }).format(names);
    } catch (e) { return names.join(", "); }
  }

  S.listed = listed;

  function draw() {
    const on = S.multiOn();
    const place = st().place;
    if (!place) return;
    $("staff-multi-summary").hidden = !on;
    $("staff-line-queue").textContent = on
      ? " " + VQ.t("staff.multi_line_of", { queue: nameOf(place.queue_id) }) : "";
    $("staff-where-queue").textContent = on ? listed(served().map(nameOf)) : nameOf(place.queue_id);
    if (!on) return;
    const list = $("staff-multi-queues");
    list.replaceChildren.apply(list, served().map(function (queueId) {
      const view = viewOf(queueId);
      const next = view && view.next && view.next[0];
      return el("li", { class: "staff-multi-queue", dataset: { queue: queueId } },
        el("span", { class: "staff-multi-name", text: nameOf(queueId) }),
        el("span", { class: "staff-multi-count" }, !view ? VQ.t("common.loading")
          : VQ.plural("staff.multi_waiting", view.waiting)),
        next ? el("span", { class: "muted", text: VQ.t("staff.multi_next", { number: next.number }) })
          : null,
        view && STATUS_KEYS[view.status]
          ? el("span", { class: "staff-badge staff-badge-called", text: VQ.t(STATUS_KEYS[view.status]) })
          : null);
    }));
  }

  const drawMain = S.drawView;
  S.drawView = function () {
    drawMain();
    draw();
  };

  document.addEventListener("DOMContentLoaded", function () {
    $("staff-counter").addEventListener("change", S.fillServes);
  });
})();
