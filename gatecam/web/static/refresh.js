// The overview keeps itself current while open: once a minute it fetches itself again and
// swaps in the new content, keeping the scroll position, and waits while a field is in use.
(() => {
  const MINUTE = 60 * 1000;
  async function refresh() {
    const busy = document.activeElement && document.activeElement.closest("form");
    if (document.hidden || busy) return;
    try {
      const answer = await fetch(window.location.href, { credentials: "same-origin" });
      if (!answer.ok) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      const main = fresh.querySelector("main");
      if (main) document.querySelector("main").replaceWith(document.adoptNode(main));
    } catch (e) {
      // Offline for a moment: the page stays as it was, and the next minute tries again.
    }
  }
  setInterval(refresh, MINUTE);
})();
