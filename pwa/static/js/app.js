// Laoyou (老友): small progressive enhancements. Every page works without this file.
// ES module, no build step. Behaviour that only some pages need is loaded on demand.

const html = document.documentElement;

// --- service worker: the shell and the last-seen pages for offline reading ------------------------------
// Registered after the page has loaded (its install fetches must not slow this page down), then told which
// page this is: the worker came too late to keep it, and for a resident it keeps their pages too (sw.js).
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    navigator.serviceWorker.ready
      .then((registration) => {
        registration.active?.postMessage({
          type: "shown",
          url: location.pathname + location.search,
          resident: Boolean(document.querySelector('meta[name="laoyou-offline"][content="resident"]')),
        });
      })
      .catch(() => {});
  });
}

// --- Back after logging out or in as someone else -------------------------------------------------------
// Pages may be kept in the back/forward cache. One restored from there whose CSRF token is no longer the
// browser's belongs to a session that ended (logging out renews the token): load it afresh instead.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("laoyou_csrf="));
  if (token && cookie?.slice("laoyou_csrf=".length) !== token) location.reload();
});

// --- "you are offline" note ----------------------------------------------------------------------------
const offlineNote = document.querySelector("[data-offline-note]");
function showConnection() {
  if (offlineNote) offlineNote.hidden = navigator.onLine !== false;
}
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);
showConnection();

// --- reports made offline: sent from whichever page she opens next --------------------------------------------
// Only where this phone has a queue at all (report-queue.js is loaded then, not on every page).
async function sendWaitingReports() {
  if (navigator.onLine === false || !("indexedDB" in window) || !indexedDB.databases) return;
  if (document.querySelector("[data-report-queue]")) return; // tickets.js sends and shows them on this page
  const names = (await indexedDB.databases()).map((db) => db.name);
  if (!names.includes("laoyou-tickets")) return;
  const queue = await import("./report-queue.js");
  await queue.flush();
}
sendWaitingReports().catch(() => {});
window.addEventListener("online", () => sendWaitingReports().catch(() => {}));

// --- print buttons (the login card) -----------------------------------------------------------------------
for (const button of document.querySelectorAll('[data-action="print"]')) {
  if (typeof window.print !== "function") continue;
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

// --- read aloud (speech synthesis), only where the browser can speak ---------------------------------------
if (document.querySelector("[data-read-aloud]") && "speechSynthesis" in window && "SpeechSynthesisUtterance" in window) {
  import("./read-aloud.js").then((m) => m.start(html.lang || "zh-CN")).catch(() => {});
}

// --- live parts: the unread badge, a work order, today's briefing (GraphQL subscriptions over WebSocket) ------
if (document.querySelector("[data-live]") && "WebSocket" in window) {
  import("./live.js").then((m) => m.start()).catch(() => {});
}
