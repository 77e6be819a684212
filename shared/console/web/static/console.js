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

// Passkey ceremonies (begin → navigator.credentials → finish); a step-up
// reloads the page so its forms post with the session's fresh step-up.
(function () {
  var status = document.getElementById("passkey-status");
  var csrf = document.getElementById("csrf");
  if (!status || !csrf || !window.PublicKeyCredential) return;
  function post(path, body) {
    return fetch(path, {method: "POST", headers: {"X-CSRF-Token": csrf.value, "Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)}).then(function (r) {
      if (!r.ok) throw new Error(path + " answered " + r.status);
      return r.json();
    });
  }
  var flows = {
    register: function () {
      return post("/console/passkeys/begin").then(function (b) {
        return navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(b.options.publicKey)}).then(function (cred) {
          var name = document.getElementById("passkey-name").value;
          return post("/console/passkeys/finish?ceremony=" + encodeURIComponent(b.ceremonyId) + "&name=" + encodeURIComponent(name), cred.toJSON());
        });
      }).then(function () { status.textContent = "Passkey added."; });
    },
    stepup: function () {
      return post("/console/stepup/begin").then(function (b) {
        return navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(b.options.publicKey)}).then(function (cred) {
          return post("/console/stepup/finish?ceremony=" + encodeURIComponent(b.ceremonyId), cred.toJSON());
        });
      }).then(function () { status.textContent = "Verified."; location.reload(); });
    }
  };
  document.querySelectorAll("[data-passkey]").forEach(function (el) {
    el.addEventListener("click", function () {
      status.textContent = "Working…";
      flows[el.getAttribute("data-passkey")]().catch(function (e) { status.textContent = "Failed: " + e.message; });
    });
  });
})();
