// Suggestions as you type in the search box (a combobox over /api/suggest): arrow keys move,
// Enter takes one, Escape closes. Without this file the box is a plain search field.
(function () {
  "use strict";
  var box = document.getElementById("q");
  if (!box || !box.form || !window.fetch) return;
  var KIND_LABELS = { title: "标题", issuer: "发布单位", term: "词语" };
  var list = document.createElement("ul");
  list.id = "suggestions";
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "检索建议");
  list.hidden = true;
  // the list hangs under the box alone, not under the button beside it
  var combo = document.createElement("div");
  combo.className = "combo";
  box.parentNode.insertBefore(combo, box);
  combo.appendChild(box);
  combo.appendChild(list);
  box.setAttribute("role", "combobox");
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", list.id);
  box.setAttribute("aria-expanded", "false");

  var active = -1;
  var pending = null;
  var timer = null;
  var lastTyped = null;
  var selectFirst = false;  // ArrowDown on a closed list: open it on its first option

  function options() { return list.querySelectorAll("li"); }

  function close() {
    list.hidden = true;
    list.textContent = "";
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var items = options();
    if (!items.length) return;
    active = (index + items.length) % items.length;
    Array.prototype.forEach.call(items, function (item, i) {
      item.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    box.setAttribute("aria-activedescendant", items[active].id);
    items[active].scrollIntoView({ block: "nearest" });
  }

  function choose(item) {
    if (item.getAttribute("data-kind") === "issuer") {
      // an issuing body becomes the issuer filter, not words to match
      var filter = document.createElement("input");
      filter.type = "hidden";
      filter.name = "issuer";
      filter.value = item.getAttribute("data-text");
      box.form.appendChild(filter);
      box.value = "";
    } else {
      box.value = item.getAttribute("data-text");
    }
    close();
    box.form.requestSubmit ? box.form.requestSubmit() : box.form.submit();
  }

  function show(suggestions) {
    list.textContent = "";
    active = -1;
    suggestions.forEach(function (suggestion, i) {
      var item = document.createElement("li");
      item.id = "suggestion-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.setAttribute("data-text", suggestion.text);
      item.setAttribute("data-kind", suggestion.kind);
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = suggestion.text;
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = KIND_LABELS[suggestion.kind] || suggestion.kind;
      item.appendChild(text);
      item.appendChild(kind);
      // mousedown, not click: the box's blur would close the list first
      item.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(item);
      });
      list.appendChild(item);
    });
    list.hidden = suggestions.length === 0;
    box.setAttribute("aria-expanded", suggestions.length ? "true" : "false");
    if (selectFirst && suggestions.length) highlight(0);
    selectFirst = false;
  }

  function fetchSuggestions() {
    var typed = box.value.trim();
    if (typed === lastTyped) return;
    lastTyped = typed;
    if (pending) pending.abort();
    if (!typed) { close(); return; }
    pending = new AbortController();
    fetch("/api/suggest?q=" + encodeURIComponent(typed), { signal: pending.signal })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (body) { if (box.value.trim() === typed) show(body.suggestions); })
      .catch(function () { /* aborted by the next keystroke, or offline: no suggestions */ });
  }

  box.addEventListener("input", function () {
    selectFirst = false;
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 60);
  });
  box.addEventListener("keydown", function (event) {
    if (list.hidden) {
      if (event.key === "ArrowDown" && box.value.trim()) {
        event.preventDefault();
        selectFirst = true;
        lastTyped = null;
        fetchSuggestions();
      }
      return;
    }
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
    else if (event.key === "Escape") { event.preventDefault(); close(); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(options()[active]); }
  });
  box.addEventListener("blur", function () { setTimeout(close, 100); });
})();
