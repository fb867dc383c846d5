// Runs a passkey ceremony for a form with data-passkey ("create" or
// "get"): the browser asks an authenticator with the options in
// data-options, and the answer is posted in the form's "credential" field.
"use strict";
(function () {
  // The page's words for this script, in its language (the "words" block).
  function word(k) {
    try { return JSON.parse(document.getElementById("words").textContent)[k] || k; } catch (e) { return k; }
  }
  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toText(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBytes(c.id); });
  }
  function ask(kind, o, extra) {
    var pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    if (kind === "create") {
      pk.user.id = toBytes(pk.user.id);
      ids(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }
    ids(pk.allowCredentials);
    var req = { publicKey: pk };
    for (var k in extra || {}) { req[k] = extra[k]; }
    return navigator.credentials.get(req);
  }
  function answer(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) { out.authenticatorAttachment = cred.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify(out);
  }
  function why(kind, e) {
    switch (e && e.name) {
      case "NotAllowedError":
        return kind === "create" ? word("passkey_cancelled_create") :
          word("passkey_cancelled_get");
      case "InvalidStateError":
        return kind === "create" ? word("passkey_exists") :
          word("passkey_busy");
      case "SecurityError":
        return word("passkey_address");
    }
    return word("passkey_failed");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      var kind = form.getAttribute("data-passkey");
      var field = form.querySelector("input[name=credential]");
      var error = form.querySelector(".passkey-error");
      var buttons = form.querySelectorAll("button");
      var labels = [];
      buttons.forEach(function (b) { labels.push(b.textContent); });
      var busy = false;
      function waitingFor(yes) {
        buttons.forEach(function (b, i) {
          b.disabled = yes;
          b.textContent = yes ? word("passkey_waiting") : labels[i];
        });
      }
      function fail(msg) {
        busy = false;
        error.textContent = msg;
        error.hidden = false;
        waitingFor(false);
      }
      if (!window.PublicKeyCredential || !navigator.credentials) {
        fail(word("passkey_unsupported"));
        buttons.forEach(function (b) { b.disabled = true; });
        return;
      }
      // With data-conditional, the browser also offers the passkeys in
      // the username field's autofill while the page waits; the button
      // ends that wait and asks at once.
      var waiting = null;
      function options() { return JSON.parse(form.getAttribute("data-options")); }
      function done(cred) {
        field.value = answer(cred);
        form.submit();
      }
      // retries: how often to ask again when the browser says another
      // passkey request is still pending (the previous page's autofill
      // request, which the browser ends shortly after the page is left).
      function run(retries) {
        if (busy) { return; }
        busy = true;
        error.hidden = true;
        waitingFor(true);
        if (waiting) { waiting.abort(); waiting = null; }
        var opts;
        try { opts = options(); } catch (e) { fail(why(kind, e)); return; }
        ask(kind, opts).then(done).catch(function (e) {
          if (e && e.name === "OperationError" && retries > 0) {
            busy = false;
            setTimeout(function () { run(retries - 1); }, 250);
            return;
          }
          fail(why(kind, e));
        });
      }
      if (form.hasAttribute("data-conditional") && window.AbortController && PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
          if (!yes || busy) { return; }
          waiting = new AbortController();
          ask(kind, options(), { mediation: "conditional", signal: waiting.signal }).then(done).catch(function () {});
        });
        // Leaving the page (the password form posted) ends the autofill
        // request, so the next page's passkey request is not refused.
        window.addEventListener("pagehide", function () { if (waiting) { waiting.abort(); waiting = null; } });
      }
      form.addEventListener("submit", function (ev) {
        if (field.value) { return; }
        ev.preventDefault();
        run(2);
      });
      if (form.hasAttribute("data-auto")) { run(8); }
    });
  });
})();
