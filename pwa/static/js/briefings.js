// Briefing photos open full screen when tapped; tap again (or Back, or Esc) to return.
// Without this script each photo is a plain link to the full image, which also fills the screen.

for (const link of document.querySelectorAll("a[data-fullscreen-photo]")) {
  link.addEventListener("click", (event) => {
    const viewer = document.createElement("img");
    viewer.src = link.href;
    viewer.alt = link.querySelector("img")?.alt || "";
    viewer.className = "photo-fullscreen";
    if (!viewer.requestFullscreen) return; // let the link open the photo
    event.preventDefault();
    document.body.append(viewer);
    viewer.requestFullscreen().catch(() => {
      viewer.remove();
      window.location.href = link.href;
    });
    const close = () => {
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    };
    viewer.addEventListener("click", close);
    document.addEventListener("fullscreenchange", function done() {
      if (!document.fullscreenElement) {
        viewer.remove();
        document.removeEventListener("fullscreenchange", done);
      }
    });
  });
}

// The steward's form: ticking a repair finished today writes it into the matching "done today" box;
// unticking takes it out again. Without this script the server adds the ticked ones when the form is sent.
for (const box of document.querySelectorAll("[data-work-orders] input[type=checkbox]")) {
  box.addEventListener("change", () => {
    const area = document.getElementById(`done_${box.dataset.kind}`);
    if (!area) return;
    const lines = area.value.split("\n").map((l) => l.trim()).filter(Boolean);
    const text = box.dataset.text;
    const kept = lines.filter((l) => l !== text);
    area.value = (box.checked ? [...kept, text] : kept).join("\n");
  });
}
