// Receive and count pages: a keyboard-wedge scanner types into #scan and presses Enter.
// No framework, no build step, no network assets.
(function () {
  "use strict";
  var root = document.querySelector('meta[name="root"]').content;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var scan = document.getElementById("scan");
  var result = document.getElementById("result");
  var log = document.getElementById("log");

  function post(path, body) {
    return fetch(root + "/api/v1" + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json",
                 "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.message || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  function say(text, isError) {
    result.textContent = text;
    result.className = isError ? "error" : "ok";
  }

  function line(text) {
    var li = document.createElement("li");
    li.textContent = text;
    log.insertBefore(li, log.firstChild);
  }

  function value(id) { return document.getElementById(id).value.trim(); }

  var receiveForm = document.getElementById("receive-form");
  if (receiveForm) {
    receiveForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { scan: scan.value, unitCost: value("unit-cost"),
                   packages: parseInt(value("packages"), 10) || 1,
                   warehouse: value("warehouse"), supplier: value("supplier"),
                   invoice: value("invoice") };
      post("/receipts/scan", body).then(function (data) {
        say(data.message, false);
        line(data.message + " (delivery " + data.deliveryId + ")");
        scan.value = "";
        scan.focus();
      }).catch(function (err) { say(err.message, true); scan.select(); });
    });
  }

  var countForm = document.getElementById("count-form");
  if (countForm) {
    var scans = [];
    var list = document.getElementById("scans");
    scan.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") { return; }
      e.preventDefault();
      if (!scan.value.trim()) { return; }
      scans.push(scan.value);
      var li = document.createElement("li");
      li.textContent = scan.value;
      list.appendChild(li);
      document.getElementById("scanned").textContent = String(scans.length);
      scan.value = "";
    });
    function count(dryRun) {
      if (!scans.length) { say("Nothing scanned yet.", true); return; }
      post("/counts/scan", { scans: scans, warehouse: value("warehouse"), dryRun: dryRun })
        .then(function (data) {
          log.textContent = "";
          data.lots.forEach(function (d) {
            line("lot " + d.inventoryId + ": on hand " + d.onHand + ", counted " + d.counted +
                 (d.difference ? ", " + (d.difference > 0 ? d.difference + " found" :
                                         (-d.difference) + " missing") : ", as expected"));
          });
          say(dryRun ? "Nothing saved yet: " + data.adjusted + " lot(s) differ." :
              "Count " + data.countId + " saved: " + data.adjusted + " lot(s) adjusted.", false);
          if (!dryRun) { scans = []; list.textContent = "";
                         document.getElementById("scanned").textContent = "0"; }
        }).catch(function (err) { say(err.message, true); });
    }
    document.getElementById("preview").addEventListener("click", function () { count(true); });
    document.getElementById("apply").addEventListener("click", function () { count(false); });
  }
})();
