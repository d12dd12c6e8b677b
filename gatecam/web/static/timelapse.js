// The day's timelapse in place of the stepped images: the kept MP4 plays at once; while
// one is encoded the page says how far it got, then swaps in the video.
(() => {
  const button = document.getElementById("play-video");
  const box = document.getElementById("player");
  const note = document.getElementById("video-progress");
  let asking = false;
  function play(src) {
    let video = document.getElementById("play-video-el");
    if (video === null) {
      video = document.createElement("video");
      video.id = "play-video-el";
      video.controls = video.autoplay = video.muted = video.playsInline = true;
      video.src = src;
      box.appendChild(video);
    }
    note.textContent = "";
    video.hidden = false;
    video.play().catch(() => {});
  }
  async function ask() {
    let answer;
    try {
      const response = await fetch(button.dataset.progress, { headers: { Accept: "application/json" } });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (e) {
      asking = false;
      note.textContent = "no video: " + e.message;
      return;
    }
    if (answer.state === "ready" || answer.state === "stream") {
      asking = false;
      play(answer.src);
      return;
    }
    note.textContent = answer.state === "waiting"
      ? "waiting for another day's video to finish…"
      : "encoding… " + answer.done + " of " + answer.total + " frames";
    setTimeout(ask, 1000);
  }
  button.addEventListener("click", () => {
    if (document.getElementById("play-video-el") !== null) {
      play("");
    } else if (!asking) {
      asking = true;
      note.textContent = "encoding…";
      ask();
    }
  });
})();
