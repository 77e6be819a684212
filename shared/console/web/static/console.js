// Progressive enhancement only: the page states the absolute expiry;
// this counts down to it and says "expired" when it passes.
(function () {
  var t = document.querySelector("time[data-countdown]");
  var out = document.getElementById("countdown");
  if (!t || !out) return;
  var end = Date.parse(t.getAttribute("datetime"));
  function tick() {
    var s = Math.round((end - Date.now()) / 1000);
    if (s <= 0) { out.textContent = "(expired)"; return; }
    var m = Math.floor(s / 60), h = Math.floor(m / 60);
    out.textContent = "(" + (h ? h + "h " : "") + (m % 60) + "m " + (s % 60) + "s left)";
    setTimeout(tick, 1000);
  }
  tick();
})();
