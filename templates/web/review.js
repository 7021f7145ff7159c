// Review page: load a visit's materials from the API, record actual usage through it.
// No framework, no build step, no network assets.
(function () {
  "use strict";
  var root = document.querySelector('meta[name="root"]').content;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var reasons = document.getElementById("reasons");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    return fetch(root + "/api/v1" + path, opts).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.message || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  function money(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(2); }

  function lotSelect(material) {
    var select = el("select", { "class": "lot", "aria-label": "Lot used" });
    select.appendChild(el("option", { value: "" }, "lot: automatic (FEFO)"));
    api("GET", "/products/" + material.itemMasterId + "/lots").then(function (data) {
      data.lots.forEach(function (lot) {
        var label = (lot.lotNumber || "(no number)") + " · " + (lot.warehouseName || lot.warehouse || "no warehouse") + " · exp " + (lot.expiration || "none") + " · " + lot.onHand + " on hand";
        select.appendChild(el("option", { value: lot.lotNumber || "" }, label));
      });
      if (material.actualLot) { select.value = material.actualLot; }
    }).catch(function () { /* lots are optional */ });
    return select;
  }

  function render(container, visit, data) {
    container.textContent = "";
    var canUpdate = visit.dataset.canUpdate === "1";
    var wrap = el("div", { "class": "table-wrap" });
    var table = el("table");
    var head = el("tr");
    ["Product", "Code", "Planned", "Actual", "Reason", "Lot", "Notes", "Stock", "Cost"].forEach(function (h, i) {
      head.appendChild(el("th", { "class": i === 1 ? "code-col" : (i === 8 ? "opt" : "") }, h));
    });
    table.appendChild(head);
    data.materials.forEach(function (m) {
      var row = el("tr", { "data-usage-id": m.usageId, "data-code": m.code || "", "data-product-id": m.itemMasterId });
      var product = el("td", {}, m.itemName);
      (m.containers || []).forEach(function (c) {
        // the open vial a draw came from and its time left (products counted in units)
        var text = "vial #" + c.containerId + ": " + c.units + " " + c.unit +
          (c.volumeMl !== null ? " = " + c.volumeMl + " mL" : "") +
          (c.open ? ", " + c.unitsLeft + " " + c.unit + " left" +
            (c.hoursLeft !== null ? ", " + c.hoursLeft + " h to beyond use" : "") : ", closed");
        product.appendChild(el("div", { "class": "container-draw" }, text));
      });
      row.appendChild(product);
      row.appendChild(el("td", { "class": "code-col" }, m.code || ""));
      row.appendChild(el("td", {}, m.plannedQuantity + " " + (m.unitName || "")));
      var actual = el("input", { type: "number", min: "0", step: "any", "class": "actual", "aria-label": "Actual quantity" });
      actual.value = m.actualQuantity === null || m.actualQuantity === undefined ? m.plannedQuantity : m.actualQuantity;
      var reason = el("select", { "class": "reason", "aria-label": "Reason" });
      reason.appendChild(el("option", { value: "" }, "no variance"));
      reason.appendChild(reasons.content.cloneNode(true));
      if (m.varianceReason) { reason.value = m.varianceReason; }
      var notes = el("input", { type: "text", "class": "notes", maxlength: "1000", "aria-label": "Notes" });
      notes.value = m.notes || "";
      [actual, reason, lotSelect(m), notes].forEach(function (input) {
        if (!canUpdate) { input.disabled = true; }
        var td = el("td"); td.appendChild(input); row.appendChild(td);
      });
      var stock = el("td");
      stock.appendChild(el("span", { "class": "badge " + m.stockStatus }, m.stockStatus));
      stock.appendChild(el("span", { "class": "stock" }, " " + m.currentStock));
      row.appendChild(stock);
      row.appendChild(el("td", { "class": "opt" }, money(m.totalActualCost)));
      table.appendChild(row);
    });
    wrap.appendChild(table);
    container.appendChild(wrap);
    var status = el("p", { "class": "status", role: "status" });
    if (canUpdate) {
      var save = el("button", { type: "button", "class": "save" }, "Save actual usage");
      save.addEventListener("click", function () { submit(container, visit, table, status); });
      container.appendChild(save);
    }
    container.appendChild(status);
  }

  function submit(container, visit, table, status) {
    var materials = [];
    table.querySelectorAll("tr[data-usage-id]").forEach(function (row) {
      var item = {
        usageId: Number(row.dataset.usageId),
        actualQuantity: row.querySelector(".actual").value,
        varianceReason: row.querySelector(".reason").value || null,
        notes: row.querySelector(".notes").value || null,
        lot: row.querySelector(".lot").value || null
      };
      materials.push(item);
    });
    status.textContent = "Saving…";
    api("PUT", "/visits/" + visit.dataset.pid + "/" + visit.dataset.encounter + "/materials", { materials: materials })
      .then(function (result) {
        load(visit).then(function () {
          var s = container.querySelector(".status");
          var moved = (result.stockAdjustments || []).map(function (a) { return a.itemName + " " + a.adjustment; }).join(", ");
          s.textContent = "Saved. " + (moved ? "Stock adjusted: " + moved : "No stock change.");
          s.className = "status saved";
        });
      })
      .catch(function (err) { status.textContent = err.message; status.className = "status error"; });
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
