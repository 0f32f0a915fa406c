// Read a block of the page aloud with the browser's speech synthesis.
// Markup: <section data-read-aloud> … <button type="button" class="read-aloud" hidden
//          data-label-stop="Stop reading">Read aloud</button> … </section>
// The button is hidden in the HTML and shown here, so phones that cannot speak never see it.

const BLOCKS = "h1, h2, h3, p, li, dt, dd, th, td, caption, legend";
const SKIP = "button, form, [hidden], [aria-hidden='true'], [data-no-read]";

function textOf(region) {
  const parts = [];
  const blocks = region.querySelectorAll(BLOCKS);
  for (const block of blocks.length ? blocks : [region]) {
    if (block.closest(SKIP)) continue;
    if (block.parentElement && block.parentElement.closest(BLOCKS) && region.contains(block.parentElement.closest(BLOCKS))) continue;
    const clone = block.cloneNode(true);
    for (const el of [clone, ...clone.querySelectorAll("[data-speak]")]) {
      if (el.dataset.speak) el.textContent = el.dataset.speak;
    }
    for (const el of clone.querySelectorAll(SKIP)) el.remove();
    const text = clone.textContent.replace(/\s+/g, " ").trim();
    if (text) parts.push(text);
  }
  return parts.join(". ");
}

function voiceFor(lang) {
  const wanted = lang.toLowerCase();
  const voices = window.speechSynthesis.getVoices();
  const norm = (v) => v.lang.replace("_", "-").toLowerCase();
  return (
    voices.find((v) => norm(v) === wanted) ||
    voices.find((v) => norm(v).startsWith(wanted.split("-")[0])) ||
    null
  );
}

export function start(lang) {
  const synth = window.speechSynthesis;
  let current = null;

  function reset(button) {
    if (!button) return;
    button.setAttribute("aria-pressed", "false");
    button.querySelector("[data-label]").textContent = button.dataset.labelRead;
  }

  function stop() {
    synth.cancel();
    reset(current);
    current = null;
  }

  for (const button of document.querySelectorAll("[data-read-aloud] button.read-aloud")) {
    const label = button.querySelector("[data-label]");
    if (!label) continue;
    button.dataset.labelRead = label.textContent;
    button.setAttribute("aria-pressed", "false");
    button.hidden = false;
    button.addEventListener("click", () => {
      const wasMine = current === button;
      stop();
      if (wasMine) return;
      const text = textOf(button.closest("[data-read-aloud]"));
      if (!text) return;
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = lang;
      const voice = voiceFor(lang);
      if (voice) utterance.voice = voice;
      utterance.rate = 0.85; // a little slower than usual
      utterance.onend = utterance.onerror = () => {
        if (current === button) stop();
      };
      current = button;
      button.setAttribute("aria-pressed", "true");
      label.textContent = button.dataset.labelStop || label.textContent;
      synth.speak(utterance);
    });
  }
  window.addEventListener("pagehide", stop);
}
