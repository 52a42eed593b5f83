/* The project's own script: small conveniences on top of pages that work without it.
   No inline handlers (the Content-Security-Policy allows only this file). */
(function () {
  "use strict";

  // "Select all" for the inbox's bulk approve, with a live count.
  function setUpBulk() {
    var all = document.querySelector("[data-select-all]");
    if (!all) return;
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll("input." + all.getAttribute("data-select-all"))
    );
    var count = document.querySelector("[data-selected-count]");
    var submit = document.querySelector("[data-bulk-submit]");
    function refresh() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      if (count) count.textContent = n ? n + " selected" : "";
      if (submit) submit.disabled = n === 0;
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
    boxes.forEach(function (b) { b.addEventListener("change", refresh); });
    refresh();
  }

  // Reject and "request changes" need a comment: say so before the round trip
  // (the server checks it too).
  function setUpDecisions() {
    document.querySelectorAll("form.decide-form").forEach(function (form) {
      var lastButton = null;
      form.querySelectorAll("button[name=decision]").forEach(function (b) {
        b.addEventListener("click", function () { lastButton = b; });
      });
      form.addEventListener("submit", function (event) {
        var button = event.submitter || lastButton;
        var comment = form.querySelector("textarea[name=comment]");
        var error = form.querySelector("[data-comment-error]");
        if (button && button.hasAttribute("data-needs-comment") && comment && !comment.value.trim()) {
          event.preventDefault();
          if (error) error.hidden = false;
          comment.setAttribute("aria-invalid", "true");
          comment.focus();
          return;
        }
        if (error) error.hidden = true;
        // One click, one decision: the server refuses a second one anyway.
        window.setTimeout(function () {
          form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
  }

  // Forms that undo something ask first.
  function setUpConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function start() {
    setUpBulk();
    setUpDecisions();
    setUpConfirm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
