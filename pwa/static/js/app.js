// Laoyou (老友): small progressive enhancements. Every page works without this file.
// ES module, no build step. Behaviour that only some pages need is loaded on demand.

const html = document.documentElement;

// --- service worker: the shell and the last-seen pages for offline reading ------------------------------
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  });
}

// --- "you are offline" note ----------------------------------------------------------------------------
const offlineNote = document.querySelector("[data-offline-note]");
function showConnection() {
  if (offlineNote) offlineNote.hidden = navigator.onLine !== false;
}
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);
showConnection();

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

// --- the live unread-notifications badge (GraphQL subscription over WebSocket) ------------------------------
if (document.querySelector('[data-live="unread"]') && "WebSocket" in window) {
  import("./live.js").then((m) => m.start()).catch(() => {});
}
