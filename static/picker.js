// The patient picker: filter the list of patients as a name is typed, without posting the
// search (without JavaScript the search form posts it and the server filters).
(function () {
  "use strict";
  var search = document.querySelector("form[data-filter]");
  if (!search) return;
  var list = document.querySelector(search.dataset.filter);
  var input = search.querySelector('input[type="search"]');
  var none = document.getElementById("no-match");
  if (!list || !input) return;
  function filter() {
    var words = input.value.trim().toLowerCase();
    var shown = 0;
    list.querySelectorAll("li[data-name]").forEach(function (row) {
      var match = row.dataset.name.indexOf(words) !== -1;
      row.hidden = !match;
      if (match) shown += 1;
    });
    if (none) none.hidden = shown > 0;
  }
  input.addEventListener("input", filter);
  search.addEventListener("submit", function (event) {
    event.preventDefault();
    filter();
  });
})();
