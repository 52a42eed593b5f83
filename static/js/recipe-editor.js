/* The recipe editor in the admin: line numbers, two-space Tab, and jump to the
   line of a located error. The page works without it (a plain textarea). */
(function () {
  "use strict";

  function lineOffsets(text, line) {
    var start = 0;
    for (var i = 1; i < line; i++) {
      var next = text.indexOf("\n", start);
      if (next === -1) { return null; }
      start = next + 1;
    }
    var end = text.indexOf("\n", start);
    return [start, end === -1 ? text.length : end];
  }

  function enhance(area) {
    var wrap = area.parentNode;
    var gutter = document.createElement("pre");
    gutter.className = "recipe-gutter";
    gutter.setAttribute("aria-hidden", "true");
    wrap.insertBefore(gutter, area);
    wrap.classList.add("has-gutter");

    var faultLines = {};
    document.querySelectorAll(".fault-link[data-line]").forEach(function (a) {
      faultLines[a.getAttribute("data-line")] = true;
    });

    function renumber() {
      var count = area.value.split("\n").length;
      var parts = [];
      for (var i = 1; i <= count; i++) {
        parts.push(faultLines[String(i)] ? "\u25B8" + i : String(i));
      }
      gutter.textContent = parts.join("\n");
      gutter.scrollTop = area.scrollTop;
    }

    area.addEventListener("input", renumber);
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    area.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey || event.ctrlKey || event.metaKey) { return; }
      event.preventDefault();
      var s = area.selectionStart, e = area.selectionEnd;
      area.setRangeText("  ", s, e, "end");
      renumber();
    });
    renumber();
    return area;
  }

  function jumpTo(area, line) {
    var range = lineOffsets(area.value, line);
    if (!range) { return; }
    area.focus();
    area.setSelectionRange(range[0], range[1]);
    var style = window.getComputedStyle(area);
    var lineHeight = parseFloat(style.lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.querySelector("textarea.recipe-editor:not(.recipe-editor--short)");
    if (!main) { return; }
    enhance(main);
    document.querySelectorAll(".fault-link[data-line]").forEach(function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        jumpTo(main, parseInt(a.getAttribute("data-line"), 10));
      });
    });
  });
})();
