// Billing: a payment result that resumes after a lost connection. The page works without this file (the
// "Check again" button does the same); with it, coming back online or back to the tab asks the server
// once more, and the page then shows the true state without a tap. Nothing moves on the screen.

const form = document.querySelector("form[data-refresh-payment]");
let busy = false;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function askAgain() {
  if (!form || busy || navigator.onLine === false) return;
  busy = true;
  // The connection often returns in stages: a request that fails right after the "online" event is tried
  // again a few times, then left to the button.
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      if (response.ok) {
        window.location.replace(response.url); // the result page, now showing what the gateway says
        return;
      }
    } catch {
      // still offline
    }
    await pause(700 * attempt);
  }
  busy = false;
}

if (form) {
  window.addEventListener("online", askAgain);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") askAgain();
  });
  // Shown again from the back/forward cache (e.g. returning from the payment service's page).
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) askAgain();
  });
}
