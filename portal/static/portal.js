// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The page's words for this script, in its language (the "words" block).
  function word(k) {
    try { return JSON.parse(document.getElementById("words").textContent)[k] || k; } catch (e) { return k; }
  }
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
  // While a phone call or an approval request waits for its answer (or a
  // new phone for its set-up), ask the server every two seconds and
  // continue as soon as there is an answer.
  var waiting = document.querySelector("form[data-poll]");
  if (waiting && window.fetch) {
    var poll = function () {
      fetch(waiting.getAttribute("data-poll"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : { state: "gone" }; })
        .then(function (s) {
          if (s.state === "pending") { setTimeout(poll, 2000); return; }
          // With data-poll-until, only that state continues.
          var until = waiting.getAttribute("data-poll-until");
          if (until && s.state !== until) { return; }
          waiting.requestSubmit ? waiting.requestSubmit() : waiting.submit();
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 2000);
  }
  // "Show password" (hidden without this script): shows the typed
  // password as text until pressed again or the form is sent.
  var show = document.getElementById("show-password");
  if (show) {
    var field = document.getElementById(show.getAttribute("aria-controls"));
    show.hidden = false;
    show.addEventListener("click", function () {
      var on = field.type === "password";
      field.type = on ? "text" : "password";
      show.textContent = on ? word("hide_password") : word("show_password");
      show.setAttribute("aria-pressed", on ? "true" : "false");
    });
    field.form.addEventListener("submit", function () { field.type = "password"; });
  }
  // Never submit a form twice by double-clicking. The buttons are
  // disabled once the browser has read the form: a button disabled during
  // the submit event is left out of what is sent, and with it the value
  // of the button pressed (Yes or No).
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
});
