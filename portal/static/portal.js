// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Submit a code box as soon as it holds a full code.
  document.querySelectorAll("input[data-autosubmit]").forEach(function (input) {
    var want = parseInt(input.getAttribute("data-autosubmit"), 10);
    input.addEventListener("input", function () {
      var digits = input.value.replace(/\D/g, "");
      if (digits.length === want && input.form && !input.form.dataset.sent) {
        input.form.dataset.sent = "1";
        input.form.requestSubmit ? input.form.requestSubmit() : input.form.submit();
      }
    });
  });
  // Never submit a form twice by double-clicking.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
});
