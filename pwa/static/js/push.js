// Web push: turn notifications on or off for this phone, only when the person taps the button.
// Never asks for permission by itself. Registers the subscription with the GraphQL API (persisted operations).
//
// Markup: [data-push-device] (settings page) with data-public-key, data-op-register, data-op-remove;
// [data-push-state="…"] paragraphs; [data-push-on] / [data-push-off] buttons. [data-push-prompt] (home page card)
// is shown only when this phone could turn notifications on and has not decided yet; [data-add-home] (home page
// card) only on an iPhone or iPad whose Safari has not added Laoyou to the home screen, where that is what
// enables notifications. A browser that cannot push is never offered it: the other ways reach her instead.

const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
// iOS pushes only to a web app opened from the home screen (iPadOS reports itself as a Mac with touch).
const ios = /iPad|iPhone|iPod/.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
const standalone = navigator.standalone === true || window.matchMedia?.("(display-mode: standalone)").matches;
const addToHome = ios && !standalone;
const DISMISSED = "laoyou-add-home-dismissed";

function b64ToBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function bytesToB64(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function graphql(hash, name, variables) {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ operationName: name, variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error("request failed");
  return body.data;
}

async function currentSubscription() {
  const registration = await navigator.serviceWorker.ready;
  return { registration, subscription: await registration.pushManager.getSubscription() };
}

function showState(box, state) {
  for (const p of box.querySelectorAll("[data-push-state]")) p.hidden = p.dataset.pushState !== state;
  const on = box.querySelector("[data-push-on]");
  const off = box.querySelector("[data-push-off]");
  if (on) on.hidden = !(state === "off" || state === "failed");
  if (off) off.hidden = state !== "on";
}

async function device(box) {
  if (addToHome) return showState(box, "add-home");
  if (!supported) return showState(box, "unsupported");
  if (Notification.permission === "denied") return showState(box, "denied");
  const { subscription } = await currentSubscription();
  showState(box, subscription && Notification.permission === "granted" ? "on" : "off");

  box.querySelector("[data-push-on]")?.addEventListener("click", async () => {
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") return showState(box, permission === "denied" ? "denied" : "off");
      const { registration } = await currentSubscription();
      const sub =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: b64ToBytes(box.dataset.publicKey),
        }));
      const json = sub.toJSON();
      const data = await graphql(box.dataset.opRegister, "RegisterPushSubscription", {
        endpoint: sub.endpoint,
        p256dh: json.keys?.p256dh || bytesToB64(sub.getKey("p256dh")),
        auth: json.keys?.auth || bytesToB64(sub.getKey("auth")),
      });
      showState(box, data.registerPushSubscription.__typename === "PushDeviceSaved" ? "on" : "failed");
    } catch {
      showState(box, "failed");
    }
  });

  box.querySelector("[data-push-off]")?.addEventListener("click", async () => {
    try {
      const { subscription: sub } = await currentSubscription();
      if (sub) {
        await graphql(box.dataset.opRemove, "RemovePushSubscription", { endpoint: sub.endpoint });
        await sub.unsubscribe();
      }
      showState(box, "off");
    } catch {
      showState(box, "failed");
    }
  });
}

async function prompt(card) {
  if (!supported || Notification.permission !== "default") return;
  const { subscription } = await currentSubscription();
  card.hidden = Boolean(subscription);
}

const box = document.querySelector("[data-push-device]");
if (box) device(box).catch(() => showState(box, "failed"));
function addHomeCard(card) {
  if (!addToHome || localStorage.getItem(DISMISSED)) return;
  card.hidden = false;
  card.querySelector("[data-add-home-dismiss]")?.addEventListener("click", () => {
    localStorage.setItem(DISMISSED, "1");
    card.hidden = true;
  });
}

const card = document.querySelector("[data-push-prompt]");
if (card) prompt(card).catch(() => {});
const addHome = document.querySelector("[data-add-home]");
if (addHome) {
  try {
    addHomeCard(addHome);
  } catch {
    // Private browsing may refuse storage: the card simply stays hidden.
  }
}
