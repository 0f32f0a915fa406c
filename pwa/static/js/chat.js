// Customer service: live chat over a GraphQL subscription (graphql-transport-ws), sends with client-made
// ids (a retry never makes a second message), catch-up by cursor after a reconnect, voice notes, the
// logged "call my steward" button, and the agents' live queue and ringing calls (the SOS hold is sos.js).
// Every page works without this file: forms post and pages render.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
let manifest = null;

async function operationHash(name) {
  if (!manifest) manifest = await (await fetch("/operations.json", { credentials: "same-origin" })).json();
  return manifest[name];
}

// A persisted operation over HTTP, by its hash (the PWA's own documents in pwa/operations).
export async function run(name, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify({ operationName: name, variables, extensions: { persistedQuery: { version: 1, sha256Hash: await operationHash(name) } } }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const payload = await response.json();
  if (payload.errors?.length) throw new Error(payload.errors[0].message);
  return payload.data;
}

// One subscription on its own socket, reconnecting with backoff. `variables()` is asked again on every
// (re)connect, so a chat resubscribes after the last seq it has shown.
export function subscribe(query, operationName, variables, onData) {
  let socket = null;
  let attempt = 0;
  let stopped = false;
  function connect() {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        attempt = 0;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, operationName, variables: variables() } }));
      } else if (message.type === "next" && message.payload?.data) {
        onData(message.payload.data);
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "complete" || message.type === "error") {
        socket.close(1000);
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (stopped || event.code === 4401 || event.code === 4403) return;
      // 4205: her grants changed and the session holds (graphql/router.py): connect again at once, as live.js does.
      const delay = event.code === 4205 ? 0 : Math.min(30_000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      attempt += 1;
      setTimeout(connect, delay);
    });
  }
  connect();
  window.addEventListener("online", () => { if (!socket) { attempt = 0; connect(); } });
  return { stop() { stopped = true; socket?.close(1000); } };
}

const FIELDS = `id seq kind body fromStaff clientId createdAt sender { id name } senderLabel media { id kind url thumbUrl }
  actions { kind label phone href }`;
const CHAT = `subscription SupportChat($conversationId: ID!, $afterSeq: Int!) {
  supportChat(conversationId: $conversationId, afterSeq: $afterSeq) {
    conversation { id status lastSeq residentReadSeq staffReadSeq assignee { name } }
    messages { ${FIELDS} }
  }
}`;

function newId() {
  return crypto.randomUUID ? crypto.randomUUID().replace(/-/g, "") : `${Date.now()}${Math.random().toString(16).slice(2)}`;
}

function startChat(box) {
  const log = box.querySelector("[data-chat-log]");
  const form = box.querySelector("[data-chat-form]");
  const status = box.querySelector("[data-chat-status]");
  const viewerIsResident = box.dataset.viewer === "resident";
  let conversationId = box.dataset.conversationId || null;
  const shown = new Set([...log.querySelectorAll("[data-seq]")].map((li) => Number(li.dataset.seq)));
  let lastSeq = Math.max(0, ...shown);
  let subscription = null;

  // An emergency reply's one-tap SOS (the same form the page renders) and calls.
  function actions(list) {
    const row = document.createElement("div");
    row.className = "actions";
    for (const a of list) {
      if (a.kind === "SOS") {
        const sos = document.createElement("form");
        sos.method = "post";
        sos.action = "/support/sos";
        const fields = { csrf_token: csrf(), household_id: box.dataset.householdId, client_id: box.dataset.sosClientId };
        for (const [name, value] of Object.entries(fields)) {
          const input = document.createElement("input");
          Object.assign(input, { type: "hidden", name, value });
          sos.append(input);
        }
        const button = document.createElement("button");
        Object.assign(button, { type: "submit", className: "sos-button", textContent: a.label });
        sos.append(button);
        row.append(sos);
      } else {
        const call = document.createElement("a");
        Object.assign(call, { className: "call", href: a.href, textContent: a.label });
        row.append(call);
      }
    }
    return row;
  }

  function render(m) {
    if (shown.has(m.seq)) return; // nothing is shown twice
    shown.add(m.seq);
    lastSeq = Math.max(lastSeq, m.seq);
    const pending = m.clientId && log.querySelector(`[data-pending="${m.clientId}"]`);
    const mine = viewerIsResident ? !m.fromStaff : m.fromStaff;
    const li = document.createElement("li");
    const service = m.kind === "system" || m.kind === "emergency";
    li.className = `chat-msg ${service ? "from-service" : mine ? "mine" : "theirs"}`;
    li.dataset.seq = String(m.seq);
    li.id = `m${m.seq}`;
    const who = document.createElement("p");
    who.className = "who";
    const time = new Date(m.createdAt);
    // Who said it comes from the server, in the reader's language (the service itself: 老友管家 · 系统).
    who.textContent = `${m.senderLabel ?? ""} · ${time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai" })}`;
    li.append(who);
    if (m.media?.kind === "audio") {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.src = m.media.url;
      li.append(audio);
    } else if (m.media?.kind === "image") {
      const img = document.createElement("img");
      img.src = m.media.thumbUrl || m.media.url;
      img.alt = "";
      li.append(img);
    }
    if (m.body) {
      const p = document.createElement("p");
      p.className = "body";
      p.textContent = m.body; // text, never HTML
      li.append(p);
    }
    if (viewerIsResident && m.actions?.length) li.append(actions(m.actions));
    // Keep server order even when a message arrives after a later one was drawn.
    const after = [...log.querySelectorAll("[data-seq]")].find((el) => Number(el.dataset.seq) > m.seq);
    if (pending) pending.remove();
    log.insertBefore(li, after ?? null);
    li.scrollIntoView({ block: "end" });
  }

  function listen() {
    if (!conversationId || subscription) return;
    subscription = subscribe(CHAT, "SupportChat", () => ({ conversationId, afterSeq: lastSeq }), (data) => {
      const update = data.supportChat;
      for (const m of update.messages) render(m);
      if (update.messages.length && document.visibilityState === "visible") {
        run("MarkChatSeen", { conversationId, seq: lastSeq, read: true }).catch(() => {});
      }
    });
  }

  // `note`: what she is to read once it is sent (a file of hers that did not go with it).
  async function send(body, mediaId, clientId, note = "") {
    const pending = document.createElement("li");
    pending.className = "chat-msg mine pending";
    pending.dataset.pending = clientId;
    pending.textContent = body || "…";
    log.append(pending);
    status.textContent = box.dataset.labelSending;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const data = await run("SendChatMessage", {
          clientId, body, mediaId, conversationId, householdId: box.dataset.householdId || null,
        });
        const result = data.sendChatMessage;
        if (result.__typename !== "ChatMessageSent") {
          pending.remove();
          status.textContent = result.message;
          return;
        }
        status.textContent = note;
        if (conversationId !== result.conversation.id) {
          conversationId = result.conversation.id;
          subscription?.stop();
          subscription = null;
        }
        render(result.chatMessage);
        for (const m of result.serviceReplies) render(m);
        listen();
        return;
      } catch {
        // Same client id on every retry: the server stores it once.
        status.textContent = box.dataset.labelFailed;
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** attempt)));
      }
    }
  }

  async function upload(blob, name) {
    const body = new FormData();
    body.append("file", blob, name);
    body.append("community_id", box.dataset.communityId);
    body.append("client_id", newId());
    const response = await fetch("/media", { method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(json.error?.message ?? box.dataset.labelFailed ?? "upload");
      // The server looked at this file and said no (its kind, its size): sending it again would fail again.
      error.refused = [400, 413, 415, 422].includes(response.status);
      throw error;
    }
    return json.id;
  }

  if (form) {
    const canned = form.querySelector("[data-canned]");
    canned?.addEventListener("change", () => {
      if (canned.value) form.querySelector("textarea").value = canned.value;
    });
    // The chosen file is named, with a big button to take it off (the phone's own file field is small and
    // cannot be cleared by a finger).
    const photo = form.querySelector('input[type="file"]');
    const attached = form.querySelector("[data-chat-attached]");
    function showAttached() {
      if (!attached) return;
      const file = photo?.files?.[0];
      attached.hidden = !file;
      attached.querySelector("[data-chat-attached-name]").textContent = file
        ? box.dataset.labelAttached.replace("{name}", file.name)
        : "";
    }
    function dropAttached() {
      if (photo) photo.value = "";
      showAttached();
    }
    photo?.addEventListener("change", showAttached);
    attached?.querySelector("[data-chat-remove]")?.addEventListener("click", () => {
      dropAttached();
      status.textContent = "";
      photo?.focus();
    });
    showAttached(); // a file the browser kept through a back/forward visit
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const textarea = form.querySelector("textarea");
      const body = textarea.value.trim();
      let mediaId = null;
      let problem = "";
      if (photo?.files?.length) {
        try {
          mediaId = await upload(photo.files[0], photo.files[0].name);
          dropAttached();
        } catch (error) {
          if (error.refused) {
            // A refused file is taken off, so it cannot stop every later message; she is told so.
            dropAttached();
            problem = `${error.message} ${body ? box.dataset.labelDroppedSent : box.dataset.labelDropped}`;
          } else {
            // No connection: the file stays for another try; her words go now (they are retried until sent).
            problem = box.dataset.labelFileWaiting ?? error.message;
          }
        }
      }
      if (body || mediaId) {
        textarea.value = "";
        send(body, mediaId, newId(), problem);
      } else if (problem) {
        status.textContent = problem;
      }
    });
    const voice = form.querySelector("[data-voice]");
    if (voice && navigator.mediaDevices?.getUserMedia && window.MediaRecorder) {
      voice.hidden = false;
      let recorder = null;
      voice.addEventListener("click", async () => {
        if (recorder) {
          recorder.stop();
          return;
        }
        try {
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
          const chunks = [];
          recorder = new MediaRecorder(stream);
          recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
          recorder.addEventListener("stop", async () => {
            stream.getTracks().forEach((t) => t.stop());
            recorder = null;
            voice.textContent = box.dataset.labelRecord;
            try {
              send("", await upload(new Blob(chunks, { type: chunks[0]?.type || "audio/webm" }), "voice.webm"), newId());
            } catch (error) {
              status.textContent = error.message;
            }
          });
          recorder.start();
          voice.textContent = box.dataset.labelRecording;
        } catch {
          recorder = null;
        }
      });
    }
  }
  listen();
  if (conversationId && lastSeq) run("MarkChatSeen", { conversationId, seq: lastSeq, read: true }).catch(() => {});
  log.lastElementChild?.scrollIntoView({ block: "end" });
}

// "Call my steward": log the press, then dial (the form posts without JavaScript).
for (const form of document.querySelectorAll("[data-steward-call]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", keepalive: true,
      headers: { Accept: "application/json" } }).catch(() => {});
    location.href = `tel:${form.dataset.phone}`;
  });
}

for (const box of document.querySelectorAll("[data-chat]")) startChat(box);

// The agents' console: tell when the queue changes, and show calls ringing for customer service.
const queue = document.querySelector("[data-queue]");
if (queue) {
  const count = queue.querySelector("[data-queue-count]");
  const newer = queue.querySelector("[data-queue-newer]");
  let first = true;
  subscribe("subscription SupportQueueLive { supportQueue { id status } }", "SupportQueueLive", () => ({}), (data) => {
    const n = data.supportQueue.length;
    if (count) count.textContent = String(n);
    // The first answer is the queue as rendered; any later one means it changed.
    if (!first && newer) newer.hidden = false;
    first = false;
  });
}
const ringing = document.querySelector("[data-ringing]");
if (ringing) {
  subscribe("subscription RingingCalls { ringingCalls { id video caller { name } } }", "RingingCalls", () => ({}), (data) => {
    const call = data.ringingCalls[0];
    ringing.hidden = !call;
    if (call) {
      ringing.querySelector("[data-ringing-who]").textContent = call.caller?.name ?? "";
      ringing.querySelector("[data-ringing-link]").href = `/support/call/${call.id}`;
    }
  });
}

// The staff home: an SOS raised, taken or dealt with meanwhile redraws the alerts from the page as the server
// draws it (names, phones, words and buttons), without a reload.
const sosHome = document.querySelector("[data-sos-home]");
if (sosHome) {
  let shown = sosHome.dataset.sosShown;
  let redraw = Promise.resolve();
  subscribe("subscription SosAlertsLive { sosAlerts { id status } }", "SosAlertsLive", () => ({}), (data) => {
    const now = data.sosAlerts.map((a) => `${a.id}:${a.status}`).join(",");
    if (now === shown) return;
    shown = now;
    redraw = redraw.then(async () => {
      const response = await fetch(location.pathname, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("[data-sos-home]");
      if (fresh) sosHome.replaceChildren(...fresh.childNodes);
    }).catch(() => {});
  });
}

// The resident's SOS page: who is coming appears (and changes) as soon as someone answers, without a reload.
const sos = document.querySelector("[data-sos-live]");
if (sos) {
  const SOS = "subscription SosAlertLive($id: ID!) { sosAlert(id: $id) { id status cancelled responder { name } responderPhone } }";
  subscribe(SOS, "SosAlertLive", () => ({ id: sos.dataset.sosLive }), (data) => {
    const alert = data.sosAlert;
    const name = alert.responder?.name;
    const coming = sos.querySelector("[data-sos-coming]");
    const call = sos.querySelector("[data-sos-call]");
    const resolved = alert.status === "resolved";
    // Called off by the resident herself ("I am fine") reads apart from a staff member's "dealt with".
    const state = alert.cancelled ? "cancelled" : alert.status;
    // Until someone answers "I am going", the one on duty has only been alerted: nobody is said to be coming;
    // once it is dealt with, nobody is coming any more.
    coming.hidden = !name || resolved;
    const said = alert.status === "open" ? sos.dataset.labelAlerted : sos.dataset.labelComing;
    if (name) coming.textContent = said.replace("{name}", name);
    call.hidden = !(name && alert.responderPhone);
    if (name && alert.responderPhone) {
      call.href = `tel:${alert.responderPhone}`;
      call.querySelector("span").textContent = sos.dataset.labelCall.replace("{name}", name);
    }
    sos.querySelector("[data-sos-told]").hidden = Boolean(name) || resolved;
    for (const el of document.querySelectorAll("[data-sos-state]")) el.hidden = el.dataset.sosState !== state;
    // Her "I am fine" button goes once it is over.
    for (const el of document.querySelectorAll("[data-sos-cancel]")) el.hidden = resolved;
    sos.dataset.status = state;
    // The tab reads what the heading now says (the resident's own page words its heading by the state).
    const heading = document.querySelector(`#sos-title [data-sos-state="${state}"]`);
    if (heading) document.title = document.title.replace(/^.*?(?= · )/, heading.textContent.trim());
  });
}
