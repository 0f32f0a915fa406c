// Audio and video calls: WebRTC in the browser, signalling through GraphQL (mutations to send an offer,
// an answer, ICE candidates and the hang-up; a subscription for the other side's signals).
import { run, subscribe } from "./chat.js";

const SIGNALS = `subscription CallSignals($callId: ID!, $afterId: Int!) {
  callSignals(callId: $callId, afterId: $afterId) { call { id status } signals { id kind payload } }
}`;

const box = document.querySelector("[data-call]");
if (box) {
  const callId = box.dataset.callId;
  const isCaller = box.dataset.caller === "1";
  const video = box.dataset.video === "1";
  const state = box.querySelector("[data-call-state]");
  const answerForm = box.querySelector("[data-answer-form]");
  const hangupForm = box.querySelector("[data-hangup-form]");
  let iceServers = [];
  try {
    iceServers = JSON.parse(box.dataset.ice || "[]");
  } catch {
    iceServers = [];
  }
  let pc = null;
  let local = null;
  let lastSignal = 0;
  let offered = false;
  let ended = false;
  let subscription = null;
  const pendingCandidates = [];

  // Outgoing signals go one at a time, in order, each retried: a lost offer would leave the call silent.
  let outbox = Promise.resolve();
  function sendSignal(kind, payload) {
    outbox = outbox.then(async () => {
      for (let attempt = 0; attempt < 20; attempt += 1) {
        try {
          const result = (await run("SendCallSignal", { callId, kind, payload: JSON.stringify(payload) })).sendCallSignal;
          if (result.__typename === "CallSignalSent" || result.__typename === "SupportError") return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * 2 ** attempt)));
        }
      }
    });
    return outbox;
  }

  const say = (label) => {
    state.textContent = box.dataset[label] ?? label;
  };

  async function media() {
    if (local) return local;
    try {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch {
      say("labelNomedia");
      local = new MediaStream();
    }
    const mine = box.querySelector("[data-local]");
    if (video) mine.srcObject = local;
    return local;
  }

  async function peer() {
    if (pc) return pc;
    pc = new RTCPeerConnection({ iceServers });
    for (const track of (await media()).getTracks()) pc.addTrack(track, local);
    pc.addEventListener("icecandidate", (event) => {
      if (event.candidate) sendSignal("ice", event.candidate.toJSON());
    });
    pc.addEventListener("track", (event) => {
      const target = video ? box.querySelector("[data-remote]") : box.querySelector("[data-remote-audio]");
      target.srcObject = event.streams[0];
    });
    pc.addEventListener("connectionstatechange", () => {
      box.dataset.connection = pc.connectionState; // tests and screen readers read this
      if (pc.connectionState === "connected") say("labelConnected");
    });
    return pc;
  }

  async function handle(signal) {
    const payload = JSON.parse(signal.payload);
    const connection = await peer();
    if (signal.kind === "offer") {
      await connection.setRemoteDescription(payload);
      for (const c of pendingCandidates.splice(0)) await connection.addIceCandidate(c);
      const answer = await connection.createAnswer();
      await connection.setLocalDescription(answer);
      await sendSignal("answer", connection.localDescription.toJSON());
    } else if (signal.kind === "answer") {
      await connection.setRemoteDescription(payload);
      for (const c of pendingCandidates.splice(0)) await connection.addIceCandidate(c);
    } else if (signal.kind === "ice") {
      if (connection.remoteDescription) await connection.addIceCandidate(payload);
      else pendingCandidates.push(payload);
    }
  }

  function finish() {
    if (ended) return;
    ended = true;
    box.dataset.status = "ended";
    say("labelEnded");
    subscription?.stop();
    pc?.close();
    local?.getTracks().forEach((t) => t.stop());
    for (const form of [answerForm, hangupForm]) if (form) form.hidden = true;
  }

  let queue = Promise.resolve();
  function listen() {
    subscription = subscribe(SIGNALS, "CallSignals", () => ({ callId, afterId: lastSignal }), (data) => {
      const update = data.callSignals;
      box.dataset.status = update.call.status;
      if (!["ringing", "connected"].includes(update.call.status)) {
        finish();
        return;
      }
      // Signals are applied one after another, in the order they were sent.
      for (const signal of update.signals) {
        lastSignal = Math.max(lastSignal, Number(signal.id));
        queue = queue.then(() => handle(signal)).catch((error) => console.error("call signal", error));
      }
      if (update.call.status === "connected" && isCaller && !offered) {
        offered = true;
        say("labelConnecting");
        queue = queue.then(async () => {
          const connection = await peer();
          const offer = await connection.createOffer();
          await connection.setLocalDescription(offer);
          await sendSignal("offer", connection.localDescription.toJSON());
        }).catch(() => {});
      }
    });
  }

  answerForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    answerForm.hidden = true;
    say("labelConnecting");
    await peer();
    const result = (await run("AnswerCall", { id: callId })).answerCall;
    if (result.__typename !== "CallUpdated") state.textContent = result.message;
  });
  hangupForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    await run("HangUpCall", { id: callId }).catch(() => {});
    finish();
  });

  // Leaving the page (closing it, going back, the browser discarding it) leaves the call: hang up, so that a
  // call whose caller left stops ringing for the staff and is kept as a missed call. A beacon goes out even as
  // the page unloads; it posts the page's own hang-up form (with its CSRF token). Staff who look at a ringing
  // call and go leave it ringing for the others. A phone that dies sends nothing: the server ends a call left
  // ringing after a while (support.do_end_unanswered_calls).
  window.addEventListener("pagehide", () => {
    const live = box.dataset.status === "connected" || (isCaller && box.dataset.status === "ringing");
    if (ended || !hangupForm || !live) return;
    navigator.sendBeacon(hangupForm.action, new FormData(hangupForm));
    finish();
  });

  if (box.dataset.status === "ringing" || box.dataset.status === "connected") {
    if (isCaller) media();
    listen();
  } else {
    finish();
  }
}
