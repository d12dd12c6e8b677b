// Steps through the day's images in place: buttons, or the arrow keys and the space bar.
// The image element is made on first use, so an unplayed page loads no extra image.
(() => {
  const box = document.getElementById("player");
  const frames = JSON.parse(box.dataset.frames);
  const shown = document.getElementById("play-time");
  const toggle = document.getElementById("play-toggle");
  const scrub = document.getElementById("scrub");
  // n is the index shown; -1 until the first step, so play starts at the first image.
  let n = -1, timer = null, img = null;
  function show(i) {
    if (!frames.length) return;
    n = (i + frames.length) % frames.length;
    if (img === null) {
      img = document.createElement("img");
      img.id = "play-image";
      img.alt = "image of the day";
      box.appendChild(img);
    }
    img.hidden = false;
    const video = document.getElementById("play-video-el");
    if (video !== null) video.pause();
    img.src = frames[n].url;
    img.title = frames[n].utc;
    shown.textContent = frames[n].label + " (" + (n + 1) + "/" + frames.length + ")";
    shown.dataset.utc = frames[n].utc;
    scrub.setAttribute("aria-valuetext", frames[n].label);
    if (document.activeElement !== scrub) scrub.value = frames[n].t;
  }
  // The slider names a time of the day: show the image nearest it.
  function nearest(t) {
    let best = 0;
    for (let i = 1; i < frames.length; i++) {
      if (Math.abs(frames[i].t - t) < Math.abs(frames[best].t - t)) best = i;
    }
    return best;
  }
  scrub.addEventListener("input", () => { stop(); show(nearest(Number(scrub.value))); });
  function stop() {
    clearInterval(timer); timer = null; toggle.textContent = "▶ play this day";
  }
  function play() {
    if (n >= frames.length - 1) n = -1;
    show(n + 1);
    timer = setInterval(() => { if (n === frames.length - 1) stop(); else show(n + 1); }, 400);
    toggle.textContent = "❚❚ pause";
  }
  toggle.addEventListener("click", () => timer ? stop() : play());
  const back = () => { stop(); show(n < 0 ? frames.length - 1 : n - 1); };
  document.getElementById("play-prev").addEventListener("click", back);
  document.getElementById("play-next").addEventListener("click", () => { stop(); show(n + 1); });
  // The day's timelapse (timelapse.js) takes the stepped images' place.
  document.getElementById("play-video").addEventListener("click", () => {
    stop();
    if (img !== null) img.hidden = true;
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("input,select,textarea")) return;
    if (e.key === "ArrowRight") { stop(); show(n + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { back(); e.preventDefault(); }
    else if (e.key === " ") { timer ? stop() : play(); e.preventDefault(); }
  });
})();
