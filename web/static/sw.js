/* sw.js: the pages' service worker (served at /sw.js, scope /).
 *
 * Offline: the shells of the ticket page (/t/<id>) and the kiosk (/kiosk), and the static files
 * they link, are kept as they were last fetched. A page is asked of the network first and taken
 * from the cache only when the network fails, so a reload without a connection still shows the
 * page (the ticket page then draws its last known view from localStorage). A static file is
 * named by its content hash (/static/x.js?v=<hash>): once cached it never changes, so it is taken
 * from the cache first. API answers (/v1/...) are never cached, and nothing else is touched.
 *
 * Web push: a notification as the notifier sends it ({title, body, url}); a click focuses the
 * ticket's page if one is open, else opens it.
 */
"use strict";

const SHELLS = "vq-shells-v1";
const STATIC = "vq-static-v1";
const SETTINGS = "vq-settings-v1";
const KEEP = [SHELLS, STATIC, SETTINGS];
const MAX_TICKET_PAGES = 10;
const SLOW_NETWORK_MS = 8000;
const TICKET_PATH = /^\/t\/([0-9a-fA-F-]{36})\/?$/;
const API_TICKET_PATH = /^\/v1\/tickets\/([0-9a-fA-F-]{36})\/?$/;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil((async function () {
    const names = await caches.keys();
    await Promise.all(names.filter(function (name) {
      return name.startsWith("vq-") && !KEEP.includes(name);
    }).map(function (name) { return caches.delete(name); }));
    await self.clients.claim();
  })());
});

function isShell(url) {
  return url.pathname === "/kiosk" || TICKET_PATH.test(url.pathname);
}

function isStatic(url) {
  return url.pathname.startsWith("/static/") && url.searchParams.has("v");
}

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (isShell(url)) event.respondWith(networkFirst(request, url));
  else if (isStatic(url)) event.respondWith(cacheFirst(request, url));
  // Anything else (the API above all) goes to the network as if there were no worker.
});

async function networkFirst(request, url) {
  const cache = await caches.open(SHELLS);
  const kept = await cache.match(request) ||
    await cache.match(url.pathname, { ignoreSearch: true });
  const network = fetch(request).then(async function (response) {
    if (response.ok && response.type === "basic") {
      await cache.put(request, response.clone());
      await trimShells(cache, url);
    }
    return response;
  });
  if (!kept) return network;
  // A connection that answers nothing (a weak signal) falls back to the kept page as well.
  const slow = new Promise(function (resolve) {
    setTimeout(function () { resolve(null); }, SLOW_NETWORK_MS);
  });
  try {
    return (await Promise.race([network, slow])) || kept;
  } catch (offline) {
    return kept;
  }
}

// The shells of the most recent tickets only (a phone may follow many over the months).
async function trimShells(cache, url) {
  if (!TICKET_PATH.test(url.pathname)) return;
  const tickets = (await cache.keys()).filter(function (kept) {
    return TICKET_PATH.test(new URL(kept.url).pathname);
  });
  // Cache keys keep their insertion order: a page put again moves to the end.
  const excess = tickets.length - MAX_TICKET_PAGES;
  for (let i = 0; i < excess; i++) await cache.delete(tickets[i]);
}

async function cacheFirst(request, url) {
  const cache = await caches.open(STATIC);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    // The older versions of the same file are of no more use.
    const older = (await cache.keys()).filter(function (k) {
      return new URL(k.url).pathname === url.pathname;
    });
    await Promise.all(older.map(function (k) { return cache.delete(k); }));
    await cache.put(request, response.clone());
  }
  return response;
}

// ---- Web push -------------------------------------------------------------------------------

// The words the worker shows when a push carries none: the page that subscribed sends them
// (in its language) and they are kept in the cache, since a worker has no localStorage.
self.addEventListener("message", function (event) {
  const data = event.data || {};
  if (data.type === "vq-strings" && data.strings && typeof data.strings === "object") {
    event.waitUntil(caches.open(SETTINGS).then(function (cache) {
      return cache.put("/vq-sw-strings", new Response(JSON.stringify(data.strings),
        { headers: { "Content-Type": "application/json" } }));
    }));
  } else if (data.type === "vq-keep" && Array.isArray(data.urls)) {
    event.waitUntil(keep(data.urls));
  }
});

// A page loaded before the worker controlled it names itself and its files: kept as if they
// had come through the worker (a shell, and the static files not kept yet).
async function keep(urls) {
  for (const link of urls.slice(0, 20)) {
    let url;
    try {
      url = new URL(link, self.location.origin);
    } catch (e) {
      continue;
    }
    if (url.origin !== self.location.origin) continue;
    try {
      if (isShell(url)) {
        const cache = await caches.open(SHELLS);
        if (!await cache.match(url.href)) await networkFirst(new Request(url.href), url);
      } else if (isStatic(url)) {
        await cacheFirst(new Request(url.href), url);
      }
    } catch (offline) { /* kept next time */ }
  }
}

async function fallbackStrings() {
  try {
    const kept = await (await caches.open(SETTINGS)).match("/vq-sw-strings");
    return kept ? await kept.json() : {};
  } catch (e) {
    return {};
  }
}

// The page to open for a notification: a ticket's page, whichever form of its link the
// notification carries (its page, or the API's address of the ticket); the token is not needed,
// the browser that subscribed keeps it.
function pageFor(link) {
  let url;
  try {
    url = new URL(link || "/", self.location.origin);
  } catch (e) {
    return "/";
  }
  if (url.origin !== self.location.origin) return "/";
  const match = TICKET_PATH.exec(url.pathname) || API_TICKET_PATH.exec(url.pathname);
  return match ? "/t/" + match[1].toLowerCase() : url.pathname;
}

self.addEventListener("push", function (event) {
  event.waitUntil((async function () {
    let data = {};
    if (event.data) {
      try {
        data = event.data.json() || {};
      } catch (e) {
        data = { body: event.data.text() };
      }
    }
    const words = await fallbackStrings();
    const title = (typeof data.title === "string" && data.title) || words.title || "";
    const body = typeof data.body === "string" ? data.body : "";
    const page = pageFor(typeof data.url === "string" ? data.url : null);
    await self.registration.showNotification(title || body, {
      body: title ? body : "",
      tag: page,
      renotify: true,
      icon: "/static/icon.svg",
      data: { page: page },
    });
  })());
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const page = (event.notification.data && event.notification.data.page) || "/";
  event.waitUntil((async function () {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of open) {
      if (new URL(client.url).pathname === page && "focus" in client) return client.focus();
    }
    return self.clients.openWindow(page);
  })());
});
