// Live parts of a page: GraphQL subscriptions over one WebSocket (graphql-transport-ws protocol).
// The session cookie authenticates the socket. Reconnects with backoff; quiet when not logged in. The socket
// follows the account (graphql/router.py): 4205 means her grants changed, so it connects again at once to hear
// with the new ones; 4401 means her session ended (logged out elsewhere, expired), so it stops. Every
// subscription answers with the current state first, so a reconnect (after a dropped socket, or a page
// restored from the back/forward cache) brings whatever was missed meanwhile.
//
// [data-live] names what an element follows; [data-live-hash] is its persisted operation's hash (a resident
// may send nothing else in production):
// - "unread": the count of unread notifications. [data-unread-box] is shown when the count > 0;
//   [data-unread-newer] is shown when the count differs from what the page was rendered with.
// - "work-order": one order. When a step is added, the page is fetched again and its [data-live-part]s are
//   put in place, except one being used; [data-live-news] of the new page is said in [data-live-say].
// - "briefings": the line naming today's newest briefing, made from its <template>.

const MAX_DELAY = 60_000;

function unread(root) {
  const badges = [...document.querySelectorAll('[data-live="unread"]')];
  const boxes = [...document.querySelectorAll("[data-unread-box]")];
  const newer = [...document.querySelectorAll("[data-unread-newer]")];
  const rendered = Number.parseInt(root.textContent, 10) || 0;
  return {
    name: "UnreadNotifications",
    query: "subscription UnreadNotifications { unreadNotifications }",
    next(data) {
      const count = data.unreadNotifications;
      if (typeof count !== "number") return;
      for (const badge of badges) badge.textContent = String(count);
      for (const box of boxes) box.hidden = count === 0;
      for (const el of newer) el.hidden = count === rendered || count === 0;
      document.dispatchEvent(new CustomEvent("laoyou:unread", { detail: count }));
    },
  };
}

// A part someone is using (focus in it, something typed or chosen, a recording playing) is left alone.
function busy(part) {
  if (part.contains(document.activeElement) && document.activeElement !== document.body) return true;
  return changed(part);
}

function changed(part) {
  for (const el of part.querySelectorAll("input, textarea, select, audio, video")) {
    if (el.type === "file" ? el.files?.length : el.value !== el.defaultValue) return true;
    if ((el.type === "radio" || el.type === "checkbox") && el.checked !== el.defaultChecked) return true;
    if (el.tagName === "SELECT" && [...el.options].some((o) => o.selected !== o.defaultSelected)) return true;
    if ((el.tagName === "AUDIO" || el.tagName === "VIDEO") && !el.paused) return true;
  }
  return false;
}

function workOrder(root) {
  let version = root.dataset.liveVersion;
  let running = null;
  const say = root.querySelector("[data-live-say]");

  async function refresh() {
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const freshRoot = fresh.querySelector('[data-live="work-order"]');
    if (!freshRoot) return;
    // Keep what she is looking at where it is: the first part still on screen stays at the same height.
    const parts = [...root.querySelectorAll("[data-live-part]")];
    const anchorId = parts.find((p) => p.getBoundingClientRect().bottom > 0)?.id;
    const before = anchorId && document.getElementById(anchorId).getBoundingClientRect().top;
    for (const part of parts) {
      const next = fresh.getElementById(part.id);
      if (!next || next.outerHTML === part.outerHTML || busy(part)) continue;
      const adopted = document.importNode(next, true);
      // The read-aloud buttons already wired by read-aloud.js move into the new part.
      const old = part.querySelectorAll("button.read-aloud");
      adopted.querySelectorAll("button.read-aloud").forEach((b, i) => old[i] && b.replaceWith(old[i]));
      part.replaceWith(adopted);
    }
    if (anchorId) window.scrollBy(0, document.getElementById(anchorId).getBoundingClientRect().top - before);
    root.dataset.liveVersion = freshRoot.dataset.liveVersion;
    const news = freshRoot.dataset.liveNews;
    if (say && news) {
      const line = document.createElement("p");
      line.className = "ok";
      line.textContent = news;
      say.replaceChildren(line);
    }
  }

  return {
    name: "WorkOrderLive",
    query: "subscription WorkOrderLive($id: ID!) { workOrder(id: $id) { id status timeline { action } } }",
    variables: { id: root.dataset.liveId },
    next(data) {
      const order = data.workOrder;
      if (!order) return;
      const seen = `${order.status}:${order.timeline.length}`;
      if (seen === version) return;
      version = seen;
      // One fetch at a time; a step that lands meanwhile is fetched right after.
      running = (running || Promise.resolve()).then(refresh).catch(() => {});
    },
  };
}

function briefings(root) {
  const template = root.querySelector("template");
  let shown = root.dataset.liveFirst || "";
  return {
    name: "TodaysBriefingsLive",
    query: "subscription TodaysBriefingsLive { todaysBriefings { id title } }",
    next(data) {
      const newest = data.todaysBriefings?.[0];
      if ((newest?.id ?? "") === shown || !template) return;
      shown = newest?.id ?? "";
      const line = root.querySelector(".briefing-line");
      if (!newest) {
        line?.remove();
        return;
      }
      const made = template.content.firstElementChild.cloneNode(true);
      made.querySelector("a").href = `/briefings/${newest.id}`;
      const text = made.querySelector("[data-text]");
      text.textContent = text.dataset.text.replace("{title}", () => newest.title);
      if (line) line.replaceWith(made);
      else root.append(made);
    },
  };
}

const KINDS = { unread, "work-order": workOrder, briefings };

export function start() {
  const subscriptions = [];
  for (const el of document.querySelectorAll("[data-live]")) {
    const kind = el.dataset.live;
    if (!KINDS[kind] || subscriptions.some((s) => s.kind === kind)) continue;
    subscriptions.push({ kind, hash: el.dataset.liveHash, variables: {}, ...KINDS[kind](el) });
  }
  if (!subscriptions.length) return;

  let socket = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;
  let paused = false;
  const refused = new Set();

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

  function subscribe() {
    subscriptions.forEach((s, i) => {
      if (refused.has(i)) return;
      const payload = { operationName: s.name, variables: s.variables };
      if (s.hash) payload.extensions = { persistedQuery: { version: 1, sha256Hash: s.hash } };
      else payload.query = s.query;
      send({ id: String(i), type: "subscribe", payload });
    });
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
      const subscription = subscriptions[Number(message.id)];
      switch (message.type) {
        case "connection_ack":
          attempt = 0;
          subscribe();
          break;
        case "next":
          if (subscription && message.payload?.data) subscription.next(message.payload.data);
          break;
        case "ping":
          send({ type: "pong" });
          break;
        case "error":
        case "complete":
          // Refused (no longer hers to see) or ended: the page stays as it is; the others go on.
          refused.add(Number(message.id));
          if (refused.size === subscriptions.length) {
            stopped = true;
            socket.close(1000);
          }
          break;
        default:
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      // 4403: refused at connect, not logged in. Nothing to show; do not knock again.
      if (event.code === 4403) {
        stopped = true;
        return;
      }
      // 4401: her session ended while the page was open. Show the page as it now is (the login, for a page
      // that needs one) rather than a page that silently stopped, unless she is typing something.
      if (event.code === 4401) {
        stopped = true;
        if (!changed(document.body)) location.reload();
        return;
      }
      // 4205: her grants changed. Connect again at once; what was refused before may be hers now.
      if (event.code === 4205) {
        refused.clear();
        if (!paused) reconnectNow();
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
