// Laoyou work orders: photos downscaled on the phone, a voice note, and an offline queue.
// The form posts without this file too. With it, the report (with its client id) goes into the phone's queue
// (report-queue.js) first and is sent from there: at once when online, or when the 'online' event comes back.
import * as queue from "./report-queue.js";

const MAX_SIDE = 1600;

// --- photos: downscaled with a canvas before upload (the server re-encodes again) ---------------------------
async function downscale(file) {
  if (!file.type.startsWith("image/")) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 1_500_000) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : file;
  } catch {
    return file; // the server checks and re-encodes whatever arrives
  }
}

// --- voice note with MediaRecorder --------------------------------------------------------------------------
function setupVoice(form, state) {
  const box = form.querySelector("[data-voice]");
  if (!box || !("MediaRecorder" in window) || !navigator.mediaDevices?.getUserMedia) return;
  box.hidden = false;
  const start = box.querySelector("[data-voice-start]");
  const stop = box.querySelector("[data-voice-stop]");
  const status = box.querySelector("[data-voice-status]");
  let recorder = null;
  start.addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        state.voice = new File([new Blob(chunks, { type: recorder.mimeType || "audio/webm" })], "voice.webm",
          { type: recorder.mimeType || "audio/webm" });
        status.textContent = status.dataset.labelReady;
        start.hidden = false;
        stop.hidden = true;
      };
      recorder.start();
      status.textContent = status.dataset.labelRecording;
      start.hidden = true;
      stop.hidden = false;
      stop.focus();
    } catch {
      box.hidden = true;
    }
  });
  stop.addEventListener("click", () => recorder && recorder.state !== "inactive" && recorder.stop());
}

// --- the visible queue ----------------------------------------------------------------------------------------
const flush = () => queue.flush((item) => lastResults.set(item.clientId, item)).finally(render);

const lastResults = new Map();

async function render() {
  const box = document.querySelector("[data-report-queue]");
  const list = document.querySelector("[data-report-queue-list]");
  const form = document.querySelector("[data-report-form]");
  if (!box || !list) return;
  const waiting = await queue.queueAll().catch(() => []);
  list.replaceChildren();
  const labels = form?.dataset || {};
  for (const item of waiting) {
    const li = document.createElement("li");
    li.className = "tk-waiting";
    li.dataset.clientId = item.clientId;
    li.textContent = `${item.summary} — ${labels.labelWaiting || "…"}`;
    list.append(li);
  }
  for (const item of lastResults.values()) {
    const li = document.createElement("li");
    if (item.sentUrl) {
      const a = document.createElement("a");
      a.href = item.sentUrl;
      a.textContent = `${item.summary} — ${labels.labelSent || "✓"}`;
      li.append(a);
    } else {
      li.className = "error";
      li.textContent = `${item.summary} — ${item.error || labels.labelFailed || "!"}`;
    }
    list.append(li);
  }
  box.hidden = waiting.length === 0 && lastResults.size === 0;
}

// A client id of this phone's own. The server's (in the page) is for the form posted without this file: a form
// opened offline is the phone's kept copy, whose id is the same every time, so a second report from it would
// look like the first one sent again (the server keeps only the first report of an id).
function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function setupForm(form) {
  const state = { voice: null };
  form.querySelector('[name="client_id"]').value = newClientId();
  setupVoice(form, state);
  form.addEventListener("submit", async (event) => {
    if (!("indexedDB" in window)) return; // the plain form post still works
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const fields = [];
    for (const [key, value] of new FormData(form)) if (typeof value === "string") fields.push([key, value]);
    const input = form.querySelector('input[type="file"][name="photos"]');
    const files = Array.from(input?.files || []).slice(0, 6);
    const photos = await Promise.all(files.map(downscale));
    const clientId = form.querySelector('[name="client_id"]').value;
    const picked = form.querySelector(".tk-picked strong")?.textContent || "";
    const summary = `${picked} ${(form.querySelector('[name="description"]')?.value || "").slice(0, 30)}`.trim();
    await queue.queuePut({ clientId, fields, photos, voice: state.voice, summary, queuedAt: Date.now() });
    // A fresh id for anything typed next on this page.
    form.querySelector('[name="client_id"]').value = newClientId();
    await render();
    if (navigator.onLine === false) {
      button.disabled = false;
      form.reset();
      // Show the person where their report is now: waiting above the (emptied) form.
      const title = document.querySelector("[data-report-queue-title]");
      title?.scrollIntoView({ block: "start" });
      title?.focus({ preventScroll: true });
      return;
    }
    await flush();
    button.disabled = false;
    const done = lastResults.get(clientId);
    if (done?.sentUrl) window.location.assign(done.sentUrl + "?sent=1");
    else if (done?.error) refused(form, done);
  });
}

// Refused as she sent it (a mistake in the form, not the network): said above the form she is still looking
// at, with the field marked, as the page without this script says it; not listed under "waiting to be sent".
function refused(form, item) {
  lastResults.delete(item.clientId);
  render();
  let alert = document.getElementById("report-error");
  if (!alert) {
    alert = document.createElement("p");
    alert.id = "report-error";
    alert.className = "error";
    alert.setAttribute("role", "alert");
    form.before(alert);
  }
  alert.textContent = item.error;
  for (const marked of form.querySelectorAll('[aria-invalid="true"]')) marked.removeAttribute("aria-invalid");
  const name = { photoIds: "photos", voiceId: "voice" }[item.errorField] || item.errorField;
  const field = name && form.querySelector(`[name="${name}"]`);
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", "report-error");
    field.focus({ preventScroll: true });
  }
  alert.scrollIntoView({ block: "start" });
}

// --- the chosen photos, shown under the big "Add photos" button --------------------------------------------
function setupPhotoPreview(box) {
  const input = document.getElementById(box.dataset.for);
  if (!input) return;
  const status = box.querySelector("[role=status]");
  const list = box.querySelector("ul");
  const show = () => {
    for (const img of list.querySelectorAll("img")) URL.revokeObjectURL(img.src);
    list.replaceChildren();
    const files = Array.from(input.files || []).filter((f) => f.type.startsWith("image/"));
    status.textContent = files.length ? box.dataset.labelCount.replace("{n}", String(files.length)) : "";
    files.slice(0, 6).forEach((file) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = "";
      img.width = 120;
      img.height = 90;
      li.append(img);
      list.append(li);
    });
  };
  input.addEventListener("change", show);
  input.form?.addEventListener("reset", () => setTimeout(show, 0));
}

document.querySelectorAll("[data-photo-preview]").forEach(setupPhotoPreview);
const form = document.querySelector("[data-report-form]");
if (form) setupForm(form);
window.addEventListener("online", flush);
render().then(flush).catch(() => {});
