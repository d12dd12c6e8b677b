// The arrow keys step every camera together, as the page's earlier and later links do.
document.addEventListener("keydown", (e) => {
  if (e.target.closest && e.target.closest("input,select,textarea")) return;
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const id = { ArrowLeft: "at-prev", ArrowRight: "at-next" }[e.key];
  const link = id && document.getElementById(id);
  if (link) { e.preventDefault(); window.location.assign(link.href); }
});
