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

  // When the index changes (a file dropped into the seeds folder), offer to refresh the results,
  // which came from the generation the page was rendered with.
  var state = document.getElementById("index-state");
  var banner = document.getElementById("stale-banner");
  var localTime = function (iso) {
    var date = iso ? new Date(iso) : null;
    return date && !isNaN(date) ? date.toLocaleString("zh-CN", { hour12: false }) : "未知";
  };
  if (state && banner && window.fetch) {
    var changed = document.getElementById("index-changed");
    if (changed && changed.getAttribute("datetime")) {
      changed.textContent = localTime(changed.getAttribute("datetime"));
    }
    var poll = function () {
      if (document.hidden) return;
      fetch(state.dataset.health, { cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (health) {
          if (!health || health.generation === state.dataset.generation) return;
          banner.querySelector(".when").textContent = localTime(health.changed);
          banner.hidden = false;
        })
        .catch(function () { /* the server is restarting: try again at the next tick */ });
    };
    window.setInterval(poll, Number(state.dataset.poll || 3000));
    document.getElementById("stale-refresh").addEventListener("click", function () {
      window.location.reload();
    });
  }
})();
