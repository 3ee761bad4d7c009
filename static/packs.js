// Needle packs on the Time out page: keep a hand scanner's GS as the separator, read a scan
// at once (the server reads it with a GS1 library), and offer the clinic's recent packs.
// Without JavaScript a scan is read when the phase is saved, and the substitutes {GS} and |
// stand for GS.
(function () {
  "use strict";
  var form = document.querySelector("form.checklist");
  if (!form) return;
  var GS = "\u001d";
  var SHOWN_GS = "{GS}";
  var csrf = form.querySelector('input[name="csrf_token"]');

  function insertAtCursor(field, text) {
    var start = field.selectionStart, end = field.selectionEnd;
    if (start === null || start === undefined) { field.value += text; return; }
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + text.length;
  }

  function looksLikeGs1(text) {
    return /^\](d2|C1|Q3|e0|J1)/.test(text) || text.indexOf(GS) !== -1 ||
      text.indexOf(SHOWN_GS) !== -1 || text.indexOf("|") !== -1 || /^01\d{14}(\d\d|$)/.test(text);
  }

  // The parts of a pack: the first pack's lot and expiry are the checklist's own items.
  function partOf(lotField, part) {
    if (lotField.id === "timeout.needle_lot") {
      if (part === "expiry") return document.getElementById("timeout.needle_expiry");
      return document.getElementById("timeout.pack1." + part);
    }
    return document.getElementById(lotField.id.replace(/\.lot$/, "." + part));
  }

  function say(field, message) {
    var id = field.id + "-scan";
    var note = document.getElementById(id);
    if (!note) {
      note = document.createElement("p");
      note.id = id;
      note.className = "error scan-message";
      note.setAttribute("role", "alert");
      field.insertAdjacentElement("afterend", note);
    }
    note.textContent = message || "";
    note.hidden = !message;
    if (message) field.setAttribute("aria-invalid", "true");
  }

  function fill(field, value) {
    if (!field || !value) return;
    field.value = value;
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function replace(field, value) {
    if (!field || field.value === (value || "")) return;
    field.value = value || "";
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function readScan(field) {
    var text = field.value.trim();
    if (!looksLikeGs1(text)) return;
    var body = new FormData();
    body.append("scan", text);
    if (csrf) body.append("csrf_token", csrf.value);
    fetch(form.dataset.scanUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: csrf ? { "X-CSRFToken": csrf.value } : {},
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) { say(field, result.data.error); return; }
      var data = result.data;
      say(field, "");
      field.removeAttribute("aria-invalid");
      field.value = data.lot;
      // The scan is the pack now in hand: each of its parts replaces what the last pack (or
      // "A new pack from the same box") left, or empties it. An expiry kept from an in-date pack
      // let an expired pack scanned over it be saved as in date.
      replace(partOf(field, "expiry"), data.expiry);
      replace(partOf(field, "gtin"), data.gtin);
      replace(partOf(field, "serial"), data.serial);
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }).catch(function () {
      // Offline or refused: the server reads the scan again when the phase is saved.
    });
  }

  form.querySelectorAll('input[data-scan], input[id="timeout.needle_lot"]').forEach(function (field) {
    field.setAttribute("data-scan", "true");
    field.addEventListener("keydown", function (event) {
      // A scanner sends GS as the key Ctrl+] (or the character itself): browsers would take
      // it as a shortcut or drop it, so put the visible separator in its place.
      if (event.key === GS || (event.ctrlKey && (event.key === "]" || event.code === "BracketRight"))) {
        event.preventDefault();
        insertAtCursor(field, SHOWN_GS);
        return;
      }
      // Scanners end with Enter: read the scan rather than save a half-filled phase.
      if (event.key === "Enter" && looksLikeGs1(field.value.trim())) {
        event.preventDefault();
        readScan(field);
      }
    });
    field.addEventListener("input", function (event) {
      if (field.value.indexOf(GS) !== -1) field.value = field.value.split(GS).join(SHOWN_GS);
      // A lot typed or scanned anew is another pack: the hidden serial of the last scan goes.
      var serial = partOf(field, "serial");
      if (event.isTrusted && serial) serial.value = "";
    });
    field.addEventListener("change", function () { readScan(field); });
  });

  // "A new pack from the same box": one tap fills the first pack row still empty with a lot
  // used lately (a new sterile pack of that lot, never the pack opened before).
  var recent = document.getElementById("recent-packs");
  if (recent) {
    recent.hidden = false;
    recent.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-lot]");
      if (!button) return;
      var lots = Array.prototype.slice.call(form.querySelectorAll("input[data-scan]"));
      var target = lots.filter(function (f) { return !f.value; })[0];
      if (!target) return;
      fill(target, button.dataset.lot);
      fill(partOf(target, "expiry"), button.dataset.expiry);
      fill(partOf(target, "gtin"), button.dataset.gtin);
      var fold = target.closest("details");
      if (fold) fold.open = true;  // a further pack's row is folded until it is used
      target.focus();
    });
  }
})();
