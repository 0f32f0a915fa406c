// SOS: a tap opens the 确认求助 page (the link, which works without JavaScript too); held for 2 seconds it
// raises the alert at once. A brush does neither, and a long press never opens the phone's link menu.
for (const form of document.querySelectorAll("[data-sos-hold]")) {
  const button = form.querySelector("[data-sos-button]");
  const label = button.querySelector("[data-label]") ?? button;
  const text = label.textContent;
  let timer = null;
  let raised = false;
  const start = () => {
    label.textContent = form.dataset.labelHold;
    timer = setTimeout(() => {
      raised = true;
      form.submit();
    }, 2000);
  };
  const cancel = () => {
    clearTimeout(timer);
    timer = null;
    if (!raised) label.textContent = text;
  };
  // After a hold has raised the alert, the click that ends the press must not open the confirm page too.
  button.addEventListener("click", (event) => {
    if (raised) event.preventDefault();
  });
  button.addEventListener("contextmenu", (event) => event.preventDefault());
  button.addEventListener("pointerdown", (event) => {
    if (event.button === 0) start();
  });
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(name, cancel);
  button.addEventListener("keydown", (event) => {
    if (event.key === " " && !timer) {
      event.preventDefault();
      start();
    }
  });
  button.addEventListener("keyup", (event) => {
    if (event.key === " ") cancel();
  });
}
