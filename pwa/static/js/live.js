// The live unread badge: a GraphQL subscription over WebSocket (graphql-transport-ws protocol).
// The session cookie authenticates the socket. Reconnects with backoff; quiet when not logged in.
//
// Markup: [data-live="unread"] elements show the count; [data-unread-box] is shown when the count > 0;
// [data-unread-newer] is shown when the count differs from what the page was rendered with.

const QUERY = "subscription UnreadNotifications { unreadNotifications }";
const MAX_DELAY = 60_000;

export function start() {
  const badges = [...document.querySelectorAll('[data-live="unread"]')];
  const boxes = [...document.querySelectorAll("[data-unread-box]")];
  const newer = [...document.querySelectorAll("[data-unread-newer]")];
  const rendered = Number.parseInt(badges[0]?.textContent ?? "0", 10) || 0;

  let socket = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;
  let paused = false;

  function show(count) {
    for (const badge of badges) badge.textContent = String(count);
    for (const box of boxes) box.hidden = count === 0;
    for (const el of newer) el.hidden = count === rendered || count === 0;
    document.dispatchEvent(new CustomEvent("laoyou:unread", { detail: count }));
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function schedule() {
    if (stopped || timer) return;
    const delay = Math.min(MAX_DELAY, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt += 1;
    timer = setTimeout(() => {
      timer = null;
      connect();
    }, delay);
  }

  function connect() {
    if (stopped || (socket && socket.readyState <= WebSocket.OPEN)) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    try {
      socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    } catch {
      schedule();
      return;
    }
    socket.addEventListener("open", () => send({ type: "connection_init", payload: {} }));
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      switch (message.type) {
        case "connection_ack":
          attempt = 0;
          send({
            id: "1",
            type: "subscribe",
            payload: { query: QUERY, operationName: "UnreadNotifications", variables: {} },
          });
          break;
        case "next": {
          const count = message.payload?.data?.unreadNotifications;
          if (typeof count === "number") show(count);
          break;
        }
        case "ping":
          send({ type: "pong" });
          break;
        case "error":
        case "complete":
          socket.close(1000);
          break;
        default:
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      // 4401/4403: not logged in (any more). Nothing to show; do not knock again.
      if (event.code === 4401 || event.code === 4403) {
        stopped = true;
        return;
      }
      if (!paused) schedule();
    });
  }

  function reconnectNow() {
    if (stopped || paused) return;
    clearTimeout(timer);
    timer = null;
    attempt = 0;
    connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  // Let the page enter the back/forward cache, and pick up again when it returns.
  window.addEventListener("pagehide", () => {
    paused = true;
    clearTimeout(timer);
    timer = null;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    paused = false;
    if (event.persisted) reconnectNow();
  });
  connect();
}
