/* vq-stream.js: VQ.follow, a page's live view (every page loads it after vq.js and
 * vq-session.js).
 *
 * VQ.follow(path, onView, opts)   follow an SSE stream with the page's credential (a header, so
 *                                 Server-Sent Events over fetch, not EventSource); reconnects with
 *                                 Last-Event-ID and backoff; a refused session is renewed once
 *                                 (VQ.session, looked up when it happens); the banner shows a
 *                                 broken line; opts.onState(state, problem) hears "live",
 *                                 "delayed" (connected, but the server says its views are not
 *                                 keeping up: `event: status`), "reconnecting", "failed",
 *                                 "ended"; onView returning false ends
 *                                 it; returns {close()}
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const Problem = VQ.Problem;
  const connection = VQ.connection;

  const SILENCE_MS = 45000; // the server sends a comment every 15 s: longer silence is a dead line

  async function readEvents(body, onEvent, abort) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = { data: [] };
    let watchdog = setTimeout(function () { abort.abort(); }, SILENCE_MS);
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(function () { abort.abort(); }, SILENCE_MS);
        buffer += decoder.decode(chunk.value, { stream: true });
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop();
        lines.forEach(function (line) {
          if (line === "") {
            if (event.data.length) onEvent({ id: event.id, type: event.type, data: event.data.join("\n") });
            event = { data: [] };
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "data") event.data.push(value);
            else if (field === "id") event.id = value;
            else if (field === "event") event.type = value;
          }
        });
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  function follow(path, onView, opts) {
    opts = opts || {};
    const credential = opts.credential === undefined ? VQ.credential : opts.credential;
    const onState = opts.onState || function () {};
    const name = "follow:" + path + ":" + VQ.uuid();
    let lastId = null;
    let stopped = false;
    let abort = null;
    let attempt = 0;

    async function connect() {
      const headers = Object.assign({ Accept: "text/event-stream" },
        credential ? await credential.headers() : {});
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      abort = new AbortController();
      const response = await fetch(path, { headers: headers, signal: abort.signal, cache: "no-store" });
      if (!response.ok) {
        const body = await response.json().catch(function () { return null; });
        throw new Problem(response.status, body, response.headers.get("retry-after"));
      }
      connection.found(name);
      onState("live");
      attempt = 0;
      let finished = false;
      await readEvents(response.body, function (event) {
        if (event.type === "status") { // the read side's state, not a view
          const status = JSON.parse(event.data);
          onState(status.read_side === "delayed" ? "delayed" : "live");
          return;
        }
        if (event.id) lastId = event.id;
        const view = JSON.parse(event.data);
        if (onView(view, event) === false) finished = true;
      }, abort);
      return finished;
    }

    (async function run() {
      while (!stopped) {
        let problem = null;
        try {
          if (await connect()) {
            stopped = true;
            onState("ended");
            return;
          }
        } catch (e) {
          problem = e instanceof Problem ? e : new Problem(0, null);
        }
        if (stopped) return;
        if (problem && problem.status === 401 && credential && credential.kind === "session" &&
            attempt++ === 0 && await VQ.session.renew(true)) {
          continue;
        }
        if (problem && problem.status >= 400 && !problem.retryable) {
          stopped = true;
          connection.found(name);
          onState("failed", problem);
          return;
        }
        connection.lost(name);
        onState("reconnecting", problem);
        await VQ.pause(Math.min(attempt++, 5), problem && problem.retryAfter);
      }
    })();

    return {
      close: function () {
        stopped = true;
        connection.found(name);
        if (abort) abort.abort();
      },
    };
  }

  VQ.follow = follow;
})();
