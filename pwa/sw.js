// Laoyou (老友) service worker. Served by the app (web/routes.py) after a first line, `const BUILD = {...}`:
// this start's version and the shell's URLs, by the content-hashed names the pages ask for.
// - Precaches the shell: the offline page, the stylesheet, the scripts, the icons and the manifest.
// - Pages: network first; the last-seen pages are kept for reading offline; else the offline page.
// - A resident's pages are kept from the first page that asks (app.js): home, bills, my reports, the report
//   form of every category and the offline page with the steward's number, so all of them open offline even
//   if never opened. They are this person's: logging in or out forgets every kept page.
// - Static files: a hashed name never changes, so it is served from the cache; a plain name is served from
//   the cache and refreshed in the background.
// - Never caches a POST or anything under /graphql.
// A new BUILD.version (any static file or this file changed) installs anew; old caches go on activation.

/* global BUILD */
const VERSION = BUILD.version;
const SHELL_CACHE = `laoyou-shell-${VERSION}`;
const PAGES_CACHE = `laoyou-pages-${VERSION}`;
const MAX_PAGES = 60; // the resident's own pages (about 25) and the last-seen others
const OFFLINE_URL = "/offline";

const SHELL = [OFFLINE_URL, ...BUILD.shell, "/manifest.webmanifest"];

// Pages not worth keeping: one-time login links and the login forms.
const NOT_KEPT = [/^\/card\//, /^\/login/, /^\/logout/, /^\/password/];
// Posting these changes who is logged in: the kept pages were someone else's.
const CHANGES_PERSON = [/^\/login\//, /^\/card\//, /^\/logout/];
const HASHED = /\.[0-9a-f]{12}\.[a-z0-9]+$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload", credentials: "same-origin" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([SHELL_CACHE, PAGES_CACHE]);
      for (const name of await caches.keys()) {
        if (name.startsWith("laoyou-") && !keep.has(name)) await caches.delete(name);
      }
      if (self.registration.navigationPreload) await self.registration.navigationPreload.enable();
      await self.clients.claim();
    })(),
  );
});

// A page says it was shown (app.js): keep it, since the worker may have come after it was loaded, and for a
// resident, their pages too. Only what is missing is fetched, so this costs nothing once all are kept.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "shown" || typeof data.url !== "string" || !data.url.startsWith("/")) return;
  const wanted = [data.url, ...(data.resident ? BUILD.pages : [])];
  event.waitUntil(keepMissing(wanted));
});

let keeping = Promise.resolve();
function keepMissing(paths) {
  // One round at a time: two pages shown together must not fetch the same pages twice.
  keeping = keeping.then(async () => {
    const cache = await caches.open(PAGES_CACHE);
    for (const path of paths) {
      if (NOT_KEPT.some((re) => re.test(new URL(path, self.location.origin).pathname))) continue;
      if (await cache.match(path, { ignoreVary: true })) continue;
      try {
        const response = await fetch(path, { credentials: "same-origin" });
        // Not there, not theirs, or logged out meanwhile (sent to /login): nothing to keep.
        if (response.ok && !response.redirected && response.type === "basic") await keepPage(path, response);
      } catch {
        return; // offline again: the next page shown tries again
      }
    }
  }).catch(() => {});
  return keeping;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/graphql")) return; // never cached, never touched

  if (request.method !== "GET") {
    if (request.mode === "navigate") event.respondWith(submit(event, url));
    return; // other POSTs (from scripts) go straight to the network
  }
  if (request.mode === "navigate") {
    event.respondWith(page(event, url));
    return;
  }
  if (url.pathname.startsWith("/static/") && HASHED.test(url.pathname)) {
    event.respondWith(cacheFirst(event));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(staleWhileRevalidate(event));
  }
});

// A form posted by a page: straight to the network; after logging in or out, forget the kept pages (before
// the next page is shown and kept) and fetch the offline page again, now naming nobody's steward; after
// changing the language, fetch the offline page again in the new language.
async function submit(event, url) {
  try {
    const response = await fetch(event.request);
    if (CHANGES_PERSON.some((re) => re.test(url.pathname))) {
      await caches.delete(PAGES_CACHE);
      event.waitUntil(refreshOffline());
    }
    if (url.pathname === "/settings") event.waitUntil(refreshOffline());
    return response;
  } catch {
    return offlinePage();
  }
}

async function page(event, url) {
  try {
    const preloaded = await event.preloadResponse;
    const response = preloaded || (await fetch(event.request));
    if (response.ok && response.type === "basic" && !NOT_KEPT.some((re) => re.test(url.pathname))) {
      const copy = response.clone();
      event.waitUntil(keepPage(event.request, copy));
    }
    return response;
  } catch {
    const cache = await caches.open(PAGES_CACHE);
    const kept = await cache.match(event.request, { ignoreVary: true });
    return kept || offlinePage();
  }
}

async function keepPage(request, response) {
  const cache = await caches.open(PAGES_CACHE);
  await cache.delete(request, { ignoreVary: true }); // re-insert: keys stay in last-seen order
  await cache.put(request, response);
  const keys = await cache.keys();
  for (const old of keys.slice(0, Math.max(0, keys.length - MAX_PAGES))) await cache.delete(old);
}

// The person's own offline page (with their steward's number), else the shell's.
async function offlinePage() {
  const own = await (await caches.open(PAGES_CACHE)).match(OFFLINE_URL, { ignoreVary: true });
  if (own) return own;
  const cache = await caches.open(SHELL_CACHE);
  const offline = await cache.match(OFFLINE_URL, { ignoreVary: true });
  if (offline) return offline;
  return new Response("<!doctype html><meta charset=utf-8><title>离线</title><h1>没有网络 · No connection</h1>", {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8" },
  });
}

async function refreshOffline() {
  try {
    const response = await fetch(OFFLINE_URL, { cache: "reload", credentials: "same-origin" });
    if (response.ok) await (await caches.open(SHELL_CACHE)).put(OFFLINE_URL, response);
  } catch {
    // offline again: keep the old copy
  }
}

async function cacheFirst(event) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(event.request, { ignoreVary: true });
  if (cached) return cached;
  try {
    const response = await fetch(event.request);
    if (response.ok && response.type === "basic") event.waitUntil(cache.put(event.request, response.clone()));
    return response;
  } catch {
    return new Response("", { status: 504 });
  }
}

async function staleWhileRevalidate(event) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(event.request, { ignoreVary: true });
  const fresh = fetch(event.request)
    .then(async (response) => {
      if (response.ok && response.type === "basic") await cache.put(event.request, response.clone());
      return response;
    })
    .catch(() => null);
  if (cached) {
    event.waitUntil(fresh);
    return cached;
  }
  return (await fresh) || new Response("", { status: 504 });
}

// ==========================================================================================================
// Web push (briefings and notify domain). The payload is JSON made by laoyou.notify.service.do_enqueue:
// {title, body, url, kind, tag, urgency}. Shown with the large app icon; tapping opens the page it names,
// reusing a Laoyou window that is already open.
// ==========================================================================================================

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: event.data ? event.data.text() : "" };
  }
  const title = data.title || "老友 Laoyou";
  const url = typeof data.url === "string" && data.url.startsWith("/") ? data.url : "/";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "",
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      tag: data.tag || undefined,
      renotify: Boolean(data.tag),
      requireInteraction: data.urgency === "high",
      data: { url },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const same = windows.find((client) => new URL(client.url).pathname === target.pathname);
      if (same) return same.focus();
      const any = windows.find((client) => new URL(client.url).origin === target.origin);
      if (any) {
        await any.focus();
        return any.navigate ? any.navigate(target.href) : self.clients.openWindow(target.href);
      }
      return self.clients.openWindow(target.href);
    })(),
  );
});
