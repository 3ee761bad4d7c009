// Progressive enhancement of a checklist phase: show conditional items and notes only when they
// apply. Without JavaScript every field shows and the server applies the same rules.
(function () {
  "use strict";
  var script = document.currentScript;
  var earlier = JSON.parse((script && script.dataset.earlier) || "{}");
  var form = document.querySelector("form.checklist");
  if (!form) return;

  function answer(linkId) {
    var fields = form.querySelectorAll('[name="' + linkId + '"]');
    if (!fields.length) return earlier[linkId];
    var first = fields[0];
    if (first.type === "checkbox") {
      return Array.prototype.filter.call(fields, function (f) { return f.checked; })
        .map(function (f) { return f.value; });
    }
    if (first.type === "radio") {
      var checked = Array.prototype.find.call(fields, function (f) { return f.checked; });
      if (!checked) return undefined;
      if (checked.value === "yes") return true;
      if (checked.value === "no") return false;
      return checked.value;
    }
    if (first.value === "") return undefined;
    return first.type === "number" ? Number(first.value) : first.value;
  }

  function holds(condition) {
    var actual = answer(condition.question);
    var hit = Array.isArray(actual) ? actual.indexOf(condition.answer) !== -1 : actual === condition.answer;
    return condition.operator === "=" ? hit : !hit;
  }

  // The counts that must reconcile come from the template (version 2: used = removed and
  // opened = disposed); version 1 compares inserted, removed and disposed all together.
  // The sentences the script says, in the reader's language (the page puts them in
  // data-words; English if a page has none). "%(name)s" is filled from `values`.
  var WORDS = {
    because: "Because %(reasons)s.",
    and: " and ",
    countsBecause: "Because the needle counts do not reconcile.",
    counts: "The counts do not reconcile: %(found)s.",
    mismatch: "%(counted)s %(counted_words)s / %(against)s %(against_words)s",
    countsDiffer: "the needle counts differ",
    allAnswered: "All %(total)s questions answered: save to go on.",
    someAnswered: "%(done)s of %(total)s questions answered.",
    stops: "An answer above stops the session: read what it says before you save.",
    fewer: "One fewer",
    more: "One more",
  };
  var words = JSON.parse(form.dataset.words || "{}");

  function say(key, values) {
    var text = words[key] || WORDS[key];
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  var countChecks = form.dataset.countChecks ? JSON.parse(form.dataset.countChecks) : null;

  function known(value) { return value !== undefined && !Number.isNaN(value); }

  function mismatches() {
    if (!countChecks) {
      var counts = ["timeout.needles_inserted", "signout.needles_removed", "signout.needles_disposed"]
        .map(answer).filter(known);
      return counts.length >= 2 && counts.some(function (c) { return c !== counts[0]; })
        ? [say("countsDiffer")] : [];
    }
    return countChecks.filter(function (check) {
      var counted = answer(check.counted), against = answer(check.against);
      if (!known(counted) || !known(against)) return false;
      return check.atMost ? counted > against : counted !== against;
    }).map(function (check) {
      return say("mismatch", {
        counted: answer(check.counted), counted_words: check.words[0],
        against: answer(check.against), against_words: check.words[1],
      });
    });
  }

  function countsDiffer() { return mismatches().length > 0; }

  var countStatus = document.getElementById("count-status");

  function showCounts() {
    if (!countStatus || !countChecks) return;
    var found = mismatches();
    countStatus.textContent = found.length ? say("counts", { found: found.join("; ") }) : "";
    countStatus.hidden = !found.length;
  }

  // A multiple choice whose "None of these" cannot go with another answer: ticking one
  // clears the other, so the practitioner never meets the server's refusal for it.
  form.addEventListener("change", function (event) {
    var box = event.target;
    if (box.type !== "checkbox" || !box.checked) return;
    var item = box.closest(".item");
    var alone = item && item.dataset.exclusive;
    if (!alone) return;
    item.querySelectorAll('input[type="checkbox"]').forEach(function (other) {
      if (other !== box && (box.value === alone || other.value === alone)) other.checked = false;
    });
  });

  // An out-of-date pack is refused the moment its expiry is entered, before anything is
  // needled; the server refuses it again on save.
  function expiredPacks() {
    var expired = [];
    form.querySelectorAll("input[data-not-before]").forEach(function (field) {
      var live = document.getElementById(field.id + "-live");
      var said = document.getElementById(field.id + "-error");
      var refused = field.value !== "" && field.value < field.dataset.notBefore;
      // The server may already have said it beside the field: say it once.
      var alreadySaid = said && said.textContent === field.dataset.refusal;
      if (live) {
        live.textContent = refused && !alreadySaid ? field.dataset.refusal : "";
        live.hidden = !refused || alreadySaid;
      }
      field.setAttribute("aria-invalid", refused ? "true" : "false");
      if (refused) expired.push(field);
    });
    return expired;
  }

  form.addEventListener("submit", function (event) {
    var expired = expiredPacks();
    if (expired.length) {
      event.preventDefault();
      expired[0].focus();
    }
  });

  function showStops() {
    form.querySelectorAll(".item[data-stop-answer]").forEach(function (item) {
      var notice = item.querySelector(".stop-notice");
      if (!notice) return;
      var value = answer(item.dataset.linkId);
      var said = value === true ? "yes" : value === false ? "no" : value;
      notice.hidden = said !== item.dataset.stopAnswer;
    });
  }

  // A conditional item says why it appeared as a person would ("Because you chose Neck."),
  // naming the answers that brought it; without the script it says when it applies.
  function because(item, text) {
    var hint = item.querySelector(".condition");
    if (hint && text) hint.textContent = text;
  }

  function update() {
    form.querySelectorAll(".item").forEach(function (item) {
      var show = true;
      if (item.dataset.enableWhen) {
        var results = JSON.parse(item.dataset.enableWhen).map(holds);
        show = item.dataset.enableBehavior === "any" ? results.some(Boolean) : results.every(Boolean);
        var phrases = JSON.parse(item.dataset.because || "[]").filter(function (_, i) { return results[i]; });
        if (show && phrases.length) because(item, say("because", { reasons: phrases.join(say("and")) }));
      } else if (item.dataset.countsDiffer) {
        show = countsDiffer();
        if (show) because(item, say("countsBecause"));
      }
      item.hidden = !show && !item.classList.contains("has-error");
      var note = item.querySelector(".note");
      if (!note) return;
      var value = answer(item.dataset.linkId);
      var expected = item.dataset.expected;
      var flagged = item.dataset.flagged ? JSON.parse(item.dataset.flagged) : [];
      var unexpected =
        (expected !== undefined && value !== undefined &&
          String(value === true ? "yes" : value === false ? "no" : value) !== expected) ||
        flagged.indexOf(value) !== -1;
      note.hidden = !unexpected && !note.querySelector("input").value && !item.classList.contains("has-error");
    });
  }

  // How much of this phase is answered, counting only the items that apply right now.
  var counter = document.getElementById("answered-count");

  function answered(item) {
    var value = answer(item.dataset.linkId);
    if (Array.isArray(value)) return value.length > 0;
    return value !== undefined && value !== "" && !(typeof value === "number" && Number.isNaN(value));
  }

  function count() {
    if (!counter) return;
    var items = Array.prototype.filter.call(form.querySelectorAll(".item"), function (item) {
      return !item.hidden;
    });
    var done = items.filter(answered).length;
    // "Save to go on" is untrue while an answer that stops the session is chosen.
    var stopping = items.some(function (item) {
      var notice = item.querySelector(".stop-notice");
      return notice && !notice.hidden;
    });
    counter.textContent = stopping ? say("stops")
      : done === items.length ? say("allAnswered", { total: items.length })
      : say("someAnswered", { done: done, total: items.length });
    counter.hidden = false;
  }

  function refresh() {
    update();
    showStops();
    count();
    showCounts();
    expiredPacks();
  }

  // Counts get a stepper: a tap on + or − beside the number, which stays a plain number field
  // (typing still works, and without the script it is all there is).
  form.querySelectorAll("input[data-stepper]").forEach(function (input) {
    var label = form.querySelector('label[for="' + input.id + '"]');
    var name = label ? label.textContent.trim().replace(/\.$/, "") : input.name;
    var box = document.createElement("div");
    box.className = "stepper";
    input.parentNode.insertBefore(box, input);
    function button(text, words, step) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "step";
      b.textContent = text;
      b.setAttribute("aria-label", words + ", " + name);
      b.addEventListener("click", function () {
        var min = input.min === "" ? 0 : Number(input.min);
        var now = input.value === "" ? null : Number(input.value);
        var next = now === null || Number.isNaN(now) ? Math.max(min, step > 0 ? 1 : 0) : now + step;
        if (next < min) next = min;
        if (input.max !== "" && next > Number(input.max)) next = Number(input.max);
        input.value = String(next);
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
      return b;
    }
    box.appendChild(button("\u2212", say("fewer"), -1));
    box.appendChild(input);
    box.appendChild(button("+", say("more"), 1));
  });

  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();
})();
