// Save Time out without reloading the page (issue 17): the form is posted as it would be, the
// server answers as it always does (the Sign out page, or Time out again with its refusals),
// and that page takes the place of this one. What is saved and checked is the same; what goes
// is the blank screen and the scroll back to the top of a fresh page load, between the two
// phases that sit either side of the needling. Without JavaScript, or if anything here fails,
// the form is posted the ordinary way. Signing is never posted from here: the signed record is
// always a page load of its own.
(function () {
  "use strict";
  var form = document.querySelector("form.checklist[data-soft-save]");
  if (!form || !window.fetch || !window.DOMParser || !window.history.pushState) return;
  var sending = false;

  function runScripts(main, then) {
    // Scripts parsed from another document do not run when moved into this one: copy each
    // into a new element, in order, so the new phase is enhanced as a loaded page would be;
    // `then` runs once the last has run (or failed to load).
    var last = null;
    main.querySelectorAll("script").forEach(function (parsed) {
      var script = document.createElement("script");
      Array.prototype.forEach.call(parsed.attributes, function (attribute) {
        script.setAttribute(attribute.name, attribute.value);
      });
      script.async = false;
      parsed.replaceWith(script);
      last = script;
    });
    if (!last) { then(); return; }
    last.addEventListener("load", then);
    last.addEventListener("error", then);
  }

  function settle(main) {
    main.style.visibility = "";
    window.scrollTo(0, 0);
    // Where a loaded page would put the focus (the first field that needs it), else on the
    // heading, so a screen reader starts reading the new phase from its top.
    var focus = main.querySelector("[autofocus]") || main.querySelector("[aria-invalid=true]");
    if (!focus) {
      focus = main.querySelector("h1");
      if (focus) focus.setAttribute("tabindex", "-1");
    }
    if (focus) focus.focus();
  }

  function show(page, address) {
    var main = page.getElementById("main");
    if (!main) return false;
    if (address !== window.location.href) window.history.pushState({ phase: true }, "", address);
    window.phaseSaveShown = window.location.pathname;
    document.title = page.title;
    // Unseen until its scripts have run, as a loaded page is shown with its deferred scripts
    // run: the items that do not apply never flash up before they are folded.
    main.style.visibility = "hidden";
    document.getElementById("main").replaceWith(main);
    runScripts(main, function () { settle(main); });
    return true;
  }

  form.addEventListener("submit", function (event) {
    // checklist.js refuses an expired pack before this runs; a named button (signing) posts
    // the ordinary way.
    if (event.defaultPrevented || (event.submitter && event.submitter.name)) return;
    event.preventDefault();
    if (sending) return;
    sending = true;
    fetch(form.getAttribute("action") || window.location.href, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        // The server has answered: never post again, at worst load what it answered.
        if (!show(page, response.url)) window.location.assign(response.url);
      });
    }, function () {
      // Nothing came back (offline, a dropped connection): post the ordinary way, which says
      // what happened; the phase's opened-entry check stops a save from counting twice.
      form.submit();
    });
  });

  if (!window.phaseSaveListens) {
    // Back and forward between phases saved in place load the page at that address; a link
    // to a field of this page (the error summary's) only moves within it.
    window.phaseSaveListens = true;
    window.phaseSaveShown = window.location.pathname;
    window.addEventListener("popstate", function () {
      if (window.location.pathname !== window.phaseSaveShown) window.location.reload();
    });
  }
})();
