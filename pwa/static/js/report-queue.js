// Laoyou's queue of reports made on this phone: kept in IndexedDB until the server has them. tickets.js puts
// reports in and shows them; app.js sends what waits from any page once the phone is online again, so a report
// made offline goes out the next time she opens the app, whichever page that is. The server returns the first
// work order for a client id it has seen, so a replay never makes a second one.

export const DB_NAME = "laoyou-tickets";
const STORE = "queue";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "clientId" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}

export const queueAll = () => withStore("readonly", (s) => s.getAll());
export const queuePut = (item) => withStore("readwrite", (s) => s.put(item));
const queueDelete = (clientId) => withStore("readwrite", (s) => s.delete(clientId));

// --- sending ------------------------------------------------------------------------------------------------
async function send(item) {
  const body = new FormData();
  for (const [key, value] of item.fields) body.append(key, value);
  for (const photo of item.photos) body.append("photos", photo, "photo.jpg");
  if (item.voice) body.append("voice", item.voice, "voice.webm");
  const response = await fetch("/repairs", {
    method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
  });
  const data = await response.json().catch(() => ({}));
  if (response.ok) return { ok: true, url: data.url };
  if (response.status >= 400 && response.status < 500) {
    return { ok: false, final: true, message: data.error?.message, field: data.error?.field };
  }
  return { ok: false, final: false };
}

// Sends what waits, oldest first, stopping at the first that cannot go yet. Each report the server took or
// refused for good leaves the queue and is handed to `done` (with sentUrl, or error).
let flushing = false;
export async function flush(done = () => {}) {
  if (flushing || navigator.onLine === false) return;
  flushing = true;
  try {
    for (const item of await queueAll()) {
      let result;
      try {
        result = await send(item);
      } catch {
        break; // still offline: keep everything for the next 'online'
      }
      if (result.ok || result.final) {
        await queueDelete(item.clientId);
        if (!result.ok) [item.error, item.errorField] = [result.message, result.field];
        else item.sentUrl = result.url;
        done(item);
      } else {
        break;
      }
    }
  } finally {
    flushing = false;
  }
}
