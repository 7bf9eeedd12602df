// Small enhancements over plain links and a GET form; everything works without this file.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  if (form) {
    // Leave blank fields and defaults out of the URL, so shared links stay short.
    form.addEventListener("submit", function () {
      var defaults = { sort: "relevance", per_page: "10" };
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name) return;
        if (field.value.trim() === "" || defaults[field.name] === field.value) {
          field.disabled = true;
        }
      });
    });
    // The page may come back from the back/forward cache with fields still disabled.
    window.addEventListener("pageshow", function () {
      Array.prototype.forEach.call(form.elements, function (field) { field.disabled = false; });
    });
  }

  // On narrow screens the facet list starts folded, under its "筛选" summary.
  var facets = document.getElementById("facets");
  if (facets && window.matchMedia) {
    var wide = window.matchMedia("(min-width: 52rem)");
    var fit = function () { facets.open = wide.matches; };
    fit();
    if (wide.addEventListener) wide.addEventListener("change", fit);
  }

  // "/" jumps to the search box, as on many search sites.
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("q");
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
      target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "/" && box && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
})();
