// The tablet's camera as a pack scanner on the Time out page (DESIGN §9). A "Scan with
// camera" button beside each lot field opens the camera; the vendored decoder (zxing-wasm,
// served by the app: static/vendor/) reads a GS1 DataMatrix or GS1-128 barcode, and its text
// goes into the lot field as a hand scanner types it: the symbology prefix (]d2, ]C1), then
// the element string with {GS} for each GS (the substitute packs.js and the server read).
// packs.js then reads the scan and fills the lot, the expiry, the GTIN and the serial.
// Without a camera, without permission for one, or without JavaScript, no button is shown
// and the lot is typed or scanned by hand as before.
(function () {
  "use strict";
  var template = document.getElementById("camera-scan");
  var form = document.querySelector("form.checklist");
  if (!template || !form) return;
  var media = navigator.mediaDevices;
  if (!media || typeof media.getUserMedia !== "function") return;
  if (typeof WebAssembly !== "object" || typeof HTMLDialogElement !== "function") return;
  var policy = document.permissionsPolicy || document.featurePolicy;
  if (policy && typeof policy.allowsFeature === "function" && !policy.allowsFeature("camera")) return;

  var GS = "\u001d";
  var SHOWN_GS = "{GS}";
  var GS1_PREFIXES = ["]d2", "]C1"];
  var READ = { formats: ["DataMatrix", "Code128"], textMode: "Plain", maxNumberOfSymbols: 1 };
  var EVERY_MS = 150;
  // What the dialog says, in the reader's language (the template's data-* attributes).
  var words = template.dataset;

  var dialog = template.content.querySelector("dialog").cloneNode(true);
  document.body.appendChild(dialog);
  var view = dialog.querySelector("canvas");
  var context = view.getContext("2d", { willReadFrequently: true });
  var status = dialog.querySelector(".camera-status");
  var video = document.createElement("video");  // never shown: the canvas shows its frames
  video.muted = true;
  video.playsInline = true;
  var decoder = null;  // a promise of the ready decoder, made on the first scan
  var stream = null;
  var target = null;
  var timer = null;

  function loadDecoder() {
    if (decoder) return decoder;
    decoder = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = template.dataset.decoder;
      script.onload = function () {
        var wasm = template.dataset.wasm;
        // The library's default is a CDN: point it at the copy this app serves.
        window.ZXingWASM.prepareZXingModule({
          overrides: {
            locateFile: function (path, prefix) {
              return path.slice(-5) === ".wasm" ? wasm : prefix + path;
            },
          },
          fireImmediately: true,
        }).then(function () { resolve(window.ZXingWASM); }, reject);
      };
      script.onerror = reject;
      document.head.appendChild(script);
    });
    decoder.catch(function () { decoder = null; });
    return decoder;
  }

  // What a hand scanner would have typed for this barcode.
  function typed(result) {
    var text = result.text;
    var prefix = result.symbologyIdentifier || "";
    if (GS1_PREFIXES.indexOf(prefix) !== -1 || result.contentType === "GS1") text = prefix + text;
    return text.split(GS).join(SHOWN_GS);
  }

  function say(message) { status.textContent = message; }

  function stop() {
    clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.srcObject = null;
  }

  function close() {
    stop();
    if (dialog.open) dialog.close();
  }

  function found(result) {
    var field = target;
    close();
    field.value = typed(result);
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
    field.focus();
  }

  function look(zxing) {
    if (!stream) return;
    var width = video.videoWidth, height = video.videoHeight;
    if (!width || !height) { timer = setTimeout(function () { look(zxing); }, EVERY_MS); return; }
    if (view.width !== width) view.width = width;
    if (view.height !== height) view.height = height;
    context.drawImage(video, 0, 0, width, height);
    zxing.readBarcodes(context.getImageData(0, 0, width, height), READ).then(function (results) {
      var valid = results.filter(function (r) { return r.isValid && r.text; });
      if (valid.length) { found(valid[0]); return; }
      if (stream) timer = setTimeout(function () { look(zxing); }, EVERY_MS);
    }, function () {
      if (stream) timer = setTimeout(function () { look(zxing); }, EVERY_MS);
    });
  }

  function open(field) {
    target = field;
    view.hidden = true;  // until there is a picture to show
    say(words.starting || "Starting the camera…");
    dialog.showModal();
    var camera = media.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
    Promise.all([camera, loadDecoder()]).then(function (ready) {
      if (!dialog.open) { ready[0].getTracks().forEach(function (t) { t.stop(); }); return; }
      stream = ready[0];
      video.srcObject = stream;
      return video.play().then(function () {
        view.hidden = false;
        say(words.looking || "Looking for the barcode…");
        look(ready[1]);
      });
    }).catch(function (error) {
      stop();
      var denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      say(denied
        ? words.denied || "The camera is not allowed for this page. Type the lot, or use a hand scanner."
        : words.failed || "The camera or the barcode reader could not start. Type the lot, or use a hand scanner.");
    });
  }

  dialog.addEventListener("close", stop);
  dialog.querySelector(".camera-close").addEventListener("click", close);

  var button = template.content.querySelector("button.scan-camera");
  form.querySelectorAll('input[data-scan], input[id="timeout.needle_lot"]').forEach(function (field) {
    var scan = button.cloneNode(true);
    var label = form.querySelector('label[for="' + field.id + '"]');
    scan.querySelector(".visually-hidden").textContent = label ? " " + (words.forField || "for %(field)s").replace("%(field)s", label.textContent.trim()) : "";
    scan.addEventListener("click", function () { open(field); });
    field.insertAdjacentElement("afterend", scan);
  });
})();
