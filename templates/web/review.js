// Review page: a visit's materials from the API, actual usage recorded through it, and a
// scan field for a keyboard-wedge barcode scanner. Only rows the nurse changed are sent.
// No framework, no build step, no network assets.
(function () {
  "use strict";
  var root = document.querySelector('meta[name="root"]').content;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var reasons = document.getElementById("reasons");
  var STOCK_WORDS = { OK: "In stock", LOW: "Running low", OUT_OF_STOCK: "Out of stock" };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // What a nurse can act on, whatever the server said.
  function nurseMessage(status, message) {
    if (status === 0) { return "Could not reach the server. Check the connection and try again."; }
    if (status === 401) { return "Your session has ended. Sign in again, then repeat the change."; }
    if (status === 403) { return "Your OpenEMR account may not record usage. Ask the practice administrator."; }
    if (status === 409) { return "Someone else is changing this visit right now. Wait a moment and save again."; }
    if (status === 429) { return "Too many attempts. Wait a few minutes and try again."; }
    if (status >= 500) { return "The server could not do this. Try again; if it keeps failing, tell the administrator."; }
    return message || ("The server answered " + status + ".");
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    return fetch(root + "/api/v1" + path, opts).catch(function () {
      var e = new Error(nurseMessage(0)); e.status = 0; throw e;
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var e = new Error(nurseMessage(r.status, data.message));
          e.status = r.status; e.raw = data.message || ""; throw e;
        }
        return data;
      });
    });
  }

  function amount(n, unit) {
    var u = unit || "unit";
    // words get a plural s ("vial" -> "vials"); symbols ("U", "mL") do not
    var plural = Math.abs(n) !== 1 && /^[a-z]{3,}$/.test(u) && !/s$/.test(u);
    return n + " " + u + (plural ? "s" : "");
  }

  function lotLabel(lot) {
    var parts = [lot.lotNumber || "(no lot number)", lot.warehouseName || lot.warehouse || "no warehouse",
      lot.expiration ? "exp " + lot.expiration : "no expiry", lot.onHand + " left"];
    return parts.join(" · ");
  }

  function lotSelect(material, id) {
    var select = el("select", { "class": "lot", id: id });
    select.appendChild(el("option", { value: "" }, "Automatic (earliest expiry first)"));
    select.dataset.want = material.actualLot || "";
    api("GET", "/products/" + material.itemMasterId + "/lots").then(function (data) {
      data.lots.forEach(function (lot) {
        select.appendChild(el("option", { value: lot.lotNumber || "" }, lotLabel(lot)));
      });
      if (material.actualLot) {
        select.value = material.actualLot;
        if (select.value !== material.actualLot) {  // used up, expired or quarantined since
          select.appendChild(el("option", { value: material.actualLot }, material.actualLot + " · no longer in stock"));
          select.value = material.actualLot;
        }
      }
    }).catch(function () { /* the automatic choice stays available */ })
      .then(function () { select.dataset.loaded = "1"; });
    return select;
  }

  function field(row, label, control, cls) {
    var box = el("div", { "class": "field " + (cls || "") });
    box.appendChild(el("label", { "for": control.id }, label));
    box.appendChild(control);
    row.appendChild(box);
    return control;
  }

  function info(row, label, text, cls) {
    var box = el("div", { "class": "field info " + (cls || "") });
    box.appendChild(el("span", { "class": "field-label" }, label));
    var value = el("span", { "class": "value" });
    if (typeof text === "string") { value.textContent = text; } else { value.appendChild(text); }
    box.appendChild(value);
    row.appendChild(box);
    return box;
  }

  function state(row) {
    var lot = row.querySelector(".lot");
    // until its list has arrived a lot picker holds the recorded lot
    return JSON.stringify([row.querySelector(".actual").value, row.querySelector(".reason").value,
      lot.dataset.loaded ? lot.value : lot.dataset.want, row.querySelector(".notes").value]);
  }

  function materialRow(m, key, canUpdate, showCosts) {
    var row = el("div", { "class": "material", role: "group", "aria-label": m.itemName,
      "data-usage-id": m.usageId, "data-product-id": m.itemMasterId });
    var name = el("div", { "class": "product" });
    name.appendChild(el("strong", {}, m.itemName));
    name.appendChild(el("span", { "class": "muted small" }, " for " + (m.code || "").split(":").pop()));
    if (m.recordedAt) {
      name.appendChild(el("span", { "class": "recorded small" },
        "✓ Recorded " + m.recordedAt.replace("T", " ").slice(0, 16) + (m.recordedBy ? " by " + m.recordedBy : "")));
    }
    (m.containers || []).forEach(function (c) {
      // the open vial a draw came from and its time left (products counted in units)
      var text = "vial #" + c.containerId + ": " + c.units + " " + c.unit +
        (c.volumeMl !== null ? " = " + c.volumeMl + " mL" : "") +
        (c.open ? ", " + c.unitsLeft + " " + c.unit + " left" +
          (c.hoursLeft !== null ? ", " + c.hoursLeft + " h to beyond use" : "") : ", closed");
      name.appendChild(el("div", { "class": "container-draw small" }, text));
    });
    row.appendChild(name);
    info(row, "Planned", amount(m.plannedQuantity, m.unitName));
    var id = key + "-" + m.usageId;
    var actual = el("input", { type: "number", min: "0", step: "any", inputmode: "decimal", "class": "actual", id: id + "-actual" });
    actual.value = m.actualQuantity === null || m.actualQuantity === undefined ? m.plannedQuantity : m.actualQuantity;
    var reason = el("select", { "class": "reason", id: id + "-reason" });
    reason.appendChild(el("option", { value: "" }, "As planned"));
    reason.appendChild(reasons.content.cloneNode(true));
    if (m.varianceReason) { reason.value = m.varianceReason; }
    var notes = el("input", { type: "text", "class": "notes", maxlength: "1000", id: id + "-notes" });
    notes.value = m.notes || "";
    var unit = m.unitName ? " (" + m.unitName + ")" : "";
    [field(row, "Actually used" + unit, actual), field(row, "Why different", reason, "wide"),
     field(row, "Lot used", lotSelect(m, id + "-lot"), "wide"), field(row, "Note", notes, "wide")].forEach(function (input) {
      input.setAttribute("aria-label", input.previousSibling.textContent + " – " + m.itemName);
      if (!canUpdate) { input.disabled = true; }
    });
    var stock = el("span");
    stock.appendChild(el("span", { "class": "badge " + m.stockStatus }, STOCK_WORDS[m.stockStatus] || m.stockStatus));
    stock.appendChild(el("span", { "class": "stock" }, " " + amount(m.currentStock, m.unitName)));
    info(row, "Stock now", stock);
    if (showCosts) {
      info(row, "Cost", m.totalActualCost === null || m.totalActualCost === undefined ? "—" : Number(m.totalActualCost).toFixed(2));
    }
    return row;
  }

  function scanForm(visit, container) {
    var key = "scan-" + visit.dataset.pid + "-" + visit.dataset.encounter;
    var form = el("form", { "class": "scan", autocomplete: "off" });
    form.appendChild(el("label", { "for": key }, "Scan the vial or syringe (or type its barcode)"));
    var row = el("div", { "class": "scan-row" });
    var input = el("input", { type: "text", id: key, name: "scan", "class": "scan-input", spellcheck: "false",
      autocapitalize: "off", enterkeyhint: "done" });
    row.appendChild(input);
    row.appendChild(el("button", { type: "submit" }, "Record scan"));
    form.appendChild(row);
    var status = el("p", { "class": "scan-status", role: "status" });
    form.appendChild(status);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) { status.textContent = "Scan a barcode first."; status.className = "scan-status error"; return; }
      status.textContent = "Recording the scan…"; status.className = "scan-status";
      api("POST", "/visits/" + visit.dataset.pid + "/" + visit.dataset.encounter + "/materials/scan", { scan: text })
        .then(function (data) {
          return load(visit).then(function () {
            var s = container.querySelector(".scan-status");
            s.textContent = data.message || "Scan recorded.";
            s.className = "scan-status saved";
          });
        })
        .catch(function (err) {
          if (err.status === 404 && /^No such resource/.test(err.raw)) {
            status.textContent = "Scanning is not available on this server yet. Choose the lot from the list instead.";
          } else { status.textContent = err.message; }
          status.className = "scan-status error";
          input.select();
        });
    });
    return form;
  }

  function render(container, visit, data) {
    container.textContent = "";
    var canUpdate = visit.dataset.canUpdate === "1";
    var showCosts = data.totalActualCost !== null && data.totalActualCost !== undefined;
    var key = "m-" + visit.dataset.pid + "-" + visit.dataset.encounter;
    if (canUpdate) { container.appendChild(scanForm(visit, container)); }
    var body = el("div", { "class": "material-list" });
    var units = {};
    data.materials.forEach(function (m) {
      units[m.usageId] = m.unitName;
      body.appendChild(materialRow(m, key, canUpdate, showCosts));
    });
    container.appendChild(body);
    body.querySelectorAll(".material").forEach(function (row) { row.dataset.initial = state(row); });
    var recorded = data.materials.some(function (m) { return !!m.recordedAt; });
    visit.querySelector(".recorded-mark").classList.toggle("hidden", !recorded);
    var status = el("p", { "class": "status", role: "status" });
    if (canUpdate) {
      var save = el("button", { type: "button", "class": "save" }, "Save changes");
      save.addEventListener("click", function () { submit(container, visit, body, status, units); });
      container.appendChild(save);
    }
    container.appendChild(status);
  }

  function changedRows(body) {
    var rows = [];
    body.querySelectorAll(".material").forEach(function (row) {
      if (state(row) !== row.dataset.initial) { rows.push(row); }
    });
    return rows;
  }

  function worded(adjustment, units) {
    var n = Number(adjustment.adjustment);
    var lots = (adjustment.lots || []).map(function (l) { return l.lotNumber; }).filter(Boolean);
    var where = lots.length ? " (lot " + lots.join(", ") + ")" : "";
    var what = amount(Math.abs(n), units[adjustment.usageId]) + " of " + adjustment.itemName;
    return n < 0 ? what + " returned to stock" + where : what + " taken from stock" + where;
  }

  function submit(container, visit, body, status, units) {
    var rows = changedRows(body);
    if (!rows.length) {
      status.textContent = "Nothing to save: no row was changed.";
      status.className = "status"; return;
    }
    var materials = [];
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var name = row.querySelector(".product strong").textContent;
      var actual = row.querySelector(".actual");
      if (actual.value === "" || !(Number(actual.value) >= 0)) {
        status.textContent = "Enter how much " + name + " was actually used: a number, 0 or more.";
        status.className = "status error"; actual.focus(); return;
      }
      materials.push({ usageId: Number(row.dataset.usageId), actualQuantity: actual.value,
        varianceReason: row.querySelector(".reason").value || null,
        notes: row.querySelector(".notes").value || null, lot: row.querySelector(".lot").value || null });
    }
    status.textContent = "Saving…"; status.className = "status";
    api("PUT", "/visits/" + visit.dataset.pid + "/" + visit.dataset.encounter + "/materials", { materials: materials })
      .then(function (result) {
        return load(visit).then(function () {
          var s = container.querySelector(".status");
          var moved = (result.stockAdjustments || []).filter(function (a) { return Number(a.adjustment) !== 0; })
            .map(function (a) { return worded(a, units); });
          s.textContent = "Saved " + materials.length + " row" + (materials.length === 1 ? "" : "s") + ". " +
            (moved.length ? moved.join("; ") + "." : "Stock did not change.");
          s.className = "status saved";
        });
      })
      .catch(function (err) { status.textContent = "Not saved: " + err.message; status.className = "status error"; });
  }

  function load(visit) {
    var container = visit.querySelector(".materials");
    return api("GET", "/visits/" + visit.dataset.pid + "/" + visit.dataset.encounter + "/materials")
      .then(function (data) { render(container, visit, data); })
      .catch(function (err) { container.textContent = err.message; });
  }

  document.querySelectorAll(".visit").forEach(function (visit) {
    visit.querySelector(".load").addEventListener("click", function () { load(visit); });
  });
})();
