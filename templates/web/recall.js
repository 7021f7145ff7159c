// Recall pages: the two forms post JSON to the recall API (with the session's CSRF
// header) and then show the recall. No framework, no network assets.
(function () {
  "use strict";
  var root = document.querySelector('meta[name="root"]').content;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";

  function post(form, body, done) {
    var status = form.querySelector(".status");
    var button = form.querySelector("button");
    button.disabled = true;
    status.className = "status";
    status.textContent = "Working…";
    fetch(form.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.message || ("The server answered " + r.status)); }
        return data;
      });
    }).then(done).catch(function (err) {
      button.disabled = false;
      status.className = "status error";
      status.textContent = "Not done: " + err.message;
    });
  }

  var open = document.getElementById("open-recall");
  if (open) {
    open.addEventListener("submit", function (e) {
      e.preventDefault();
      var product = open.elements.product.value.trim();
      post(open, { lot: open.elements.lot.value.trim(), product: product || null,
                   reason: open.elements.reason.value }, function (data) {
        window.location.href = root + "/recalls/" + data.id;
      });
    });
  }
  var close = document.getElementById("close-recall");
  if (close) {
    close.addEventListener("submit", function (e) {
      e.preventDefault();
      post(close, { note: close.elements.note.value }, function () { window.location.reload(); });
    });
  }
})();
