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
