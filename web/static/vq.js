/* vq.js: what every page shares. No framework, no build step, nothing loaded from elsewhere.
 * base.html loads it first, then vq-session.js (VQ.session) and vq-stream.js (VQ.follow).
 *
 * VQ.t(key, vars)                 the page's words in its language ({name} placeholders)
 * VQ.plural(key, count, vars)     the words for a count: key_one or key_other as the language's
 *                                 plural rules pick (French: 0 and 1 are "one"); {count} is filled
 * VQ.counterLabel(name, key)      a counter as the pages name it: a number or short code gets the
 *                                 page's word for counter (key: "Counter {counter}"), a name in
 *                                 words is shown as it is (the messages' rule)
 * VQ.el(tag, attrs, ...children)  build DOM safely (text is text, never HTML)
 * VQ.api(path, opts)              call the API; throws VQ.Problem; opts.idempotent retries a
 *                                 command with one Idempotency-Key until the network is back;
 *                                 a 401 with a session renews it once (VQ.session, looked up then)
 * VQ.request(path, opts, credential, idempotencyKey)  one attempt, no retry, no renewal
 * VQ.download(path, filename, credential)  fetch a file (the page's credential) and save it
 * VQ.deviceKey(slot)              a kiosk's or display's key (from #key=..., kept by the browser)
 * VQ.ticketToken(id)              a ticket's token (from #token=..., kept by the browser)
 * VQ.credential                   what VQ.api and VQ.follow send unless told otherwise
 * VQ.connection, VQ.pause(attempt, retryAfterS)  the offline banner; backoff cut short when the
 *                                 browser is back online
 * VQ.now()                        the time in ms on the API's clock (GET /v1/clock: a demo's
 *                                 clock may run fast, on another day; a PC's clock may drift);
 *                                 the browser's until the first answer. VQ.clock.sync() asks
 *                                 again (at start and every 10 min by itself), VQ.clock.ready
 *                                 (the first answer, or its failure), VQ.clock.listen(fn) (after
 *                                 each answer), VQ.clock.known() (it answered once),
 *                                 VQ.clock.until(ms) (real ms until the API's clock shows ms).
 *                                 Date.now() stays for real elapsed time.
 * VQ.parseTime(iso)               an API timestamp (microseconds) in ms
 * VQ.pageLanguage(tag)            the pages' language for a tag (fr-CA, DE: fr, de), or null
 * VQ.switchLanguage(tag, once)    reload in a ticket's or booking's language, once per `once`
 *                                 (a storage key), unless the person chose one (?lang=)
 * VQ.store, VQ.fragment, VQ.config, VQ.lang, VQ.sleep(ms), VQ.uuid()
 * VQ.chime(), VQ.vibrate(), VQ.speak(text, lang), VQ.announce(text)
 */
(function () {
  "use strict";

  function readJson(id) {
    const node = document.getElementById(id);
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (e) {
      return {};
    }
  }

  const strings = readJson("vq-strings");
  const config = readJson("vq-config");

  function t(key, vars) {
    const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return vars && Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  // Only "one" gets its own words: a catalogue has key_one and key_other (a unit test checks),
  // and the languages the pages speak need no other form (Intl.PluralRules says which is which).
  let plurals = null;
  function plural(key, count, vars) {
    plurals = plurals || new Intl.PluralRules(VQ.lang);
    const form = plurals.select(Number(count)) === "one" ? "_one" : "_other";
    return t(key + form, Object.assign({ count: count }, vars));
  }

  // notifications/default_templates.py counter_label, the same rule and the same cases: a
  // counter named by a number or a short code ("2", "B", "A1", "B-12") is "Counter 2" in the
  // page's words; a name in words ("Room 4", "Guichet Accueil 12") already says what it is, and
  // the word put before it would say it twice ("Guichet Guichet Accueil 12").
  const BARE_COUNTER = /^(?:[0-9]+|[A-Za-z]|[A-Za-z]{0,2}-?[0-9]{1,3}[A-Za-z]?)$/;
  function counterLabel(name, key) {
    const named = name === null || name === undefined ? "" : String(name).trim();
    if (!named) return "";
    return BARE_COUNTER.test(named) ? t(key, { counter: named }) : named;
  }

  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([name, value]) {
      if (value === undefined || value === null || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on") && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else if (name === "style") throw new Error("no style attributes (CSP): use a class");
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    Array.prototype.slice.call(arguments, 2).flat(Infinity).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) +
      "-" + h.slice(20);
  }

  // ---- Storage and the credentials handed over in the URL fragment --------------------------

  const store = {
    get: function (name) {
      try { return localStorage.getItem(name); } catch (e) { return null; }
    },
    set: function (name, value) {
      try {
        if (value === null) localStorage.removeItem(name);
        else localStorage.setItem(name, value);
      } catch (e) { /* private mode: the page still works until it is closed */ }
    },
  };

  // Read once; a credential in it (key=, token=) is then removed from the address bar (and so
  // from history and bookmarks); any other fragment (a page's own #section) stays.
  const SECRET_PARTS = ["key", "token"];
  const fragment = (function () {
    const hash = location.hash.replace(/^#/, "");
    if (!hash) return {};
    const params = Object.fromEntries(new URLSearchParams(hash));
    if (SECRET_PARTS.some(function (name) { return name in params; })) {
      const rest = new URLSearchParams(hash);
      SECRET_PARTS.forEach(function (name) { rest.delete(name); });
      const kept = rest.toString().replace(/=(&|$)/g, "$1");
      history.replaceState(null, "", location.pathname + location.search + (kept ? "#" + kept : ""));
    }
    return params;
  })();

  function deviceKey(slot) {
    const name = "vq.key." + slot;
    if (fragment.key) store.set(name, fragment.key);
    const key = store.get(name);
    if (!key) return null;
    return {
      kind: "key",
      headers: async function () { return { Authorization: "Bearer " + key }; },
      forget: function () { store.set(name, null); },
    };
  }

  function ticketToken(ticketId) {
    const name = "vq.ticket." + ticketId;
    if (fragment.token) store.set(name, fragment.token);
    const token = store.get(name);
    if (!token) return null;
    return {
      kind: "ticket",
      token: token,
      headers: async function () { return { "X-Ticket-Token": token }; },
      forget: function () { store.set(name, null); },
    };
  }

  // ---- Problems ----------------------------------------------------------------------------

  class Problem extends Error {
    constructor(status, body, retryAfter) {
      super((body && (body.detail || body.title)) || (status ? "HTTP " + status : "network"));
      this.status = status;
      this.body = body || {};
      this.detail = this.body.detail || null;
      this.code = typeof this.body.type === "string" ? this.body.type.split("/").pop()
        : status === 0 ? "network" : "generic";
      this.retryAfter = retryAfter ? Number(retryAfter) : null;
    }

    // What a person reads: the catalogue's words for the code, else the generic sentence.
    get text() {
      const key = "problem." + this.code;
      return Object.prototype.hasOwnProperty.call(strings, key) ? t(key) : t("problem.generic");
    }

    get retryable() {
      return this.status === 0 || this.status === 502 || this.status === 503 ||
        this.status === 504 || this.status === 429;
    }
  }

  // ---- The connection banner ---------------------------------------------------------------

  const connection = {
    down: new Set(),
    pending: 0,
    wasDown: false,
    hideTimer: null,
    update: function () {
      const banner = document.getElementById("vq-banner");
      if (!banner) return;
      const offline = !navigator.onLine || this.down.size > 0;
      const parts = [];
      if (offline) parts.push(navigator.onLine ? t("common.reconnecting") : t("common.offline"));
      if (this.pending > 0) parts.push(plural("common.pending", this.pending));
      clearTimeout(this.hideTimer);
      if (parts.length) {
        this.wasDown = true;
        banner.textContent = parts.join(" ");
        banner.className = "banner banner-offline";
        banner.hidden = false;
        document.body.classList.add("is-offline");
      } else if (this.wasDown) {
        this.wasDown = false;
        banner.textContent = t("common.back_online");
        banner.className = "banner banner-online";
        banner.hidden = false;
        document.body.classList.remove("is-offline");
        this.hideTimer = setTimeout(function () { banner.hidden = true; }, 3000);
      }
    },
    lost: function (what) { this.down.add(what); this.update(); },
    found: function (what) { this.down.delete(what); this.update(); },
  };
  window.addEventListener("online", function () { connection.update(); networkBack(); });
  window.addEventListener("offline", function () { connection.update(); });

  let wakeUps = [];
  function networkBack() {
    const waiting = wakeUps;
    wakeUps = [];
    waiting.forEach(function (wake) { wake(); });
  }

  // Wait before the next attempt: backoff with jitter, cut short when the browser is online again.
  function pause(attempt, retryAfterS) {
    const base = retryAfterS ? retryAfterS * 1000 : Math.min(15000, 500 * Math.pow(2, attempt));
    const ms = base * (0.8 + Math.random() * 0.4);
    return new Promise(function (resolve) {
      const timer = setTimeout(resolve, ms);
      wakeUps.push(function () { clearTimeout(timer); resolve(); });
    });
  }

  // ---- The API -----------------------------------------------------------------------------

  async function request(path, opts, credential, key) {
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (credential) Object.assign(headers, await credential.headers());
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    const abort = new AbortController();
    const timer = setTimeout(function () { abort.abort(); }, opts.timeout || 15000);
    let response;
    try {
      response = await fetch(path, {
        method: opts.method || "GET",
        headers: headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: abort.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (e) {
      throw new Problem(0, null);
    } finally {
      clearTimeout(timer);
    }
    const type = response.headers.get("content-type") || "";
    let data = null;
    if (response.status !== 204) {
      data = type.includes("json") ? await response.json().catch(function () { return null; })
        : await response.text();
    }
    if (!response.ok) {
      throw new Problem(response.status, data && typeof data === "object" ? data : null,
        response.headers.get("retry-after"));
    }
    return data;
  }

  async function api(path, opts) {
    opts = opts || {};
    const credential = opts.credential === undefined ? VQ.credential : opts.credential;
    const key = opts.idempotent ? (opts.idempotencyKey || uuid()) : null;
    let counted = false; // one pending action in the banner, however many attempts it takes
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const data = await request(path, opts, credential, key);
          connection.found("api");
          return data;
        } catch (problem) {
          if (problem.status === 401 && credential && credential.kind === "session" &&
              attempt === 0 && await VQ.session.renew(true)) {
            continue;
          }
          if (problem.status === 0) connection.lost("api");
          if (!key || !problem.retryable) throw problem;
          if (!counted) {
            counted = true;
            connection.pending += 1;
            connection.update();
          }
          await pause(Math.min(attempt, 5), problem.retryAfter);
        }
      }
    } finally {
      if (counted) {
        connection.pending -= 1;
        connection.update();
      }
    }
  }

  async function download(path, filename, credential) {
    credential = credential === undefined ? VQ.credential : credential;
    const headers = credential ? await credential.headers() : {};
    const response = await fetch(path, { headers: headers, cache: "no-store" });
    if (!response.ok) {
      throw new Problem(response.status, await response.json().catch(function () { return null; }));
    }
    const link = el("a", {
      href: URL.createObjectURL(await response.blob()), download: filename, hidden: true,
    });
    document.body.append(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // ---- The API's clock ---------------------------------------------------------------------

  // The API writes microseconds; Date.parse is only specified for milliseconds.
  function parseTime(iso) {
    return Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  }

  const CLOCK_EVERY_MS = 10 * 60000;
  const clock = {
    base: null, // {api, local, speed}: the API's time at the browser's `local` ms; null: not known
    asking: null,
    timer: null,
    listeners: [],
    ready: null,
    now: function () {
      const b = this.base;
      return b ? b.api + (Date.now() - b.local) * b.speed : Date.now();
    },
    // Ask GET /v1/clock (one question at a time); resolves when answered or failed, never throws.
    sync: function () {
      if (this.asking) return this.asking;
      const asked = Date.now();
      this.asking = request("/v1/clock", { timeout: 10000 }, null, null).then(function (answer) {
        const at = parseTime(answer && answer.now);
        if (!isFinite(at)) return;
        const speed = Number(answer.speed);
        // The API read its clock somewhere between the question and the answer: the middle.
        clock.base = { api: at, local: (asked + Date.now()) / 2, speed: speed > 0 ? speed : 1 };
        clock.listeners.forEach(function (fn) {
          try { fn(); } catch (e) { setTimeout(function () { throw e; }); }
        });
      }).catch(function () { /* the last answer, or the browser's clock */ }).then(function () {
        clock.asking = null;
        clearTimeout(clock.timer);
        clock.timer = setTimeout(function () { clock.sync(); }, CLOCK_EVERY_MS);
      });
      return this.asking;
    },
    listen: function (fn) { this.listeners.push(fn); },
    known: function () { return this.base !== null; },
    // Real ms until the API's clock shows `at` (ms): a demo's clock may run fast.
    until: function (at) { return (at - this.now()) / ((this.base && this.base.speed) || 1); },
  };
  clock.ready = clock.sync();

  // ---- Sound, vibration, speech, screen readers --------------------------------------------

  let audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      [0, 0.35].forEach(function (offset, index) {
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.frequency.value = index ? 660 : 880;
        gain.gain.setValueAtTime(0.0001, audio.currentTime + offset);
        gain.gain.exponentialRampToValueAtTime(0.4, audio.currentTime + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + offset + 0.3);
        tone.connect(gain).connect(audio.destination);
        tone.start(audio.currentTime + offset);
        tone.stop(audio.currentTime + offset + 0.32);
      });
    } catch (e) { /* no sound on this device */ }
  }

  function vibrate() {
    if (navigator.vibrate) navigator.vibrate([300, 150, 300, 150, 600]);
  }

  function speak(text, lang) {
    if (!window.speechSynthesis) return;
    const said = new SpeechSynthesisUtterance(text);
    said.lang = lang || config.lang || "en";
    const voice = speechSynthesis.getVoices().find(function (v) {
      return v.lang && v.lang.toLowerCase().startsWith(said.lang.toLowerCase());
    });
    if (voice) said.voice = voice;
    speechSynthesis.speak(said);
  }

  let announcer = null;
  function announce(text) {
    if (!announcer) {
      announcer = el("div", { class: "visually-hidden", "aria-live": "assertive", role: "alert" });
      document.body.append(announcer);
    }
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // ---- A page in the language of what it shows --------------------------------------------

  // The query parameter that marks a `lang` the page chose for what it shows (web/render.py).
  const AUTO = "lang_auto";

  // A ticket or booking may carry any BCP 47 tag (an API client sends fr-CA or DE): the pages
  // speak its primary subtag, lower-cased, as web/i18n.py reads the browser's Accept-Language.
  function pageLanguage(tag) {
    const primary = String(tag || "").split(/[-_]/)[0].toLowerCase();
    return (config.languages || []).indexOf(primary) >= 0 ? primary : null;
  }

  // The page again in `tag`'s language, unless the person picked one (?lang=, or the language
  // the server remembered from their earlier choice: config.lang_picked), or it was done once
  // for `once` (so their later choice sticks): true when the page is being replaced.
  function switchLanguage(tag, once) {
    const lang = pageLanguage(tag);
    if (!lang || lang === VQ.lang || config.lang_picked) return false;
    const url = new URL(location.href);
    if (url.searchParams.has("lang") || store.get(once)) return false;
    store.set(once, lang);
    url.searchParams.set("lang", lang);
    url.searchParams.set(AUTO, "1"); // not the person's pick: the server remembers none
    location.replace(url.pathname + url.search);
    return true;
  }

  // ---- Language links keep the rest of the address ----------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("nav.languages a[data-lang]").forEach(function (link) {
      const url = new URL(location.href);
      url.hash = "";
      url.searchParams.delete(AUTO); // a language picked here is remembered
      url.searchParams.set("lang", link.dataset.lang);
      link.href = url.pathname + url.search;
    });
  });

  const VQ = {
    t: t,
    plural: plural,
    counterLabel: counterLabel,
    el: el,
    sleep: sleep,
    uuid: uuid,
    clock: clock,
    now: function () { return clock.now(); },
    parseTime: parseTime,
    config: config,
    lang: config.lang || document.documentElement.lang || "en",
    pageLanguage: pageLanguage,
    switchLanguage: switchLanguage,
    fragment: fragment,
    store: store,
    Problem: Problem,
    request: request,
    api: api,
    download: download,
    deviceKey: deviceKey,
    ticketToken: ticketToken,
    credential: null, // VQ.session (vq-session.js) and VQ.follow (vq-stream.js) are added there
    connection: connection,
    pause: pause,
    chime: chime,
    vibrate: vibrate,
    speak: speak,
    announce: announce,
  };
  window.VQ = VQ;
})();
