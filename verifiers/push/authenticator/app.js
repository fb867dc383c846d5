// Stepgate Authenticator: enrols this device with a one-time token from
// the set-up QR code, keeps a non-extractable ECDSA P-256 key in
// IndexedDB, lists sign-in requests and signs the user's answers.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var api = "../push/";

  // --- words --------------------------------------------------------------
  // The page gives its messages in its language (a JSON data block, by
  // message ID, each argument written {Name}); t fills the arguments in.
  var words = null;
  function t(id, args) {
    if (!words) {
      try { words = JSON.parse($("words").textContent) || {}; } catch (_) { words = {}; }
    }
    return (words[id] || id).replace(/\{(\w+)\}/g, function (m, name) {
      return args && Object.prototype.hasOwnProperty.call(args, name) ? String(args[name]) : m;
    });
  }

  // --- encoding -----------------------------------------------------------
  function b64url(buf) {
    var s = "", bytes = new Uint8Array(buf);
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  // The text a device signs: the same on the server (push.SignedText).
  function signedText(action, fields) {
    return "stepgate-push-v1\n" + action + "\n" + fields.join("\n");
  }
  function sign(key, text) {
    return crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(text)).then(b64url);
  }

  // --- storage: one device record per site --------------------------------
  function db() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open("stepgate-authenticator", 1);
      req.onupgradeneeded = function () { req.result.createObjectStore("device"); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(new Error(t("push.app.error.no_storage"))); };
    });
  }
  function dbDo(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction("device", mode), req = fn(tx.objectStore("device"));
        tx.oncomplete = function () { resolve(req.result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  var loadDevice = function () { return dbDo("readonly", function (s) { return s.get("current"); }); };
  var saveDevice = function (d) { return dbDo("readwrite", function (s) { return s.put(d, "current"); }); };

  // --- server -------------------------------------------------------------
  // post sends no cookies: it asks for the page's language, in which the
  // server's messages come.
  function post(path, body) {
    return fetch(api + path, {
      method: "POST", cache: "no-store", credentials: "omit",
      headers: { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang || "en" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          var e = new Error(j.error || t("push.app.error.status", { Status: r.status }));
          e.status = r.status;
          throw e;
        }
        return j;
      });
    });
  }
  // signed posts a request signed by the device over its ID, a timestamp
  // and the action's fields.
  function signed(dev, action, fields, extra) {
    var ts = Date.now();
    return sign(dev.keys.privateKey, signedText(action, [dev.id, String(ts)].concat(fields))).then(function (sig) {
      var body = { device: dev.id, ts: ts, sig: sig };
      for (var k in extra) { body[k] = extra[k]; }
      return post(action, body);
    });
  }

  // --- notifications ------------------------------------------------------
  function pushSupported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }
  function registerWorker() {
    if (!("serviceWorker" in navigator)) { return Promise.resolve(null); }
    return navigator.serviceWorker.register("sw.js").catch(function () { return null; });
  }
  // subscription returns this browser's push subscription as JSON, asking
  // for permission only when ask is true (it needs a tap on iOS).
  function subscription(ask, renew) {
    if (!pushSupported()) { return Promise.resolve(""); }
    var perm = Notification.permission === "granted" ? Promise.resolve("granted")
      : ask ? Notification.requestPermission() : Promise.resolve(Notification.permission);
    return perm.then(function (p) {
      if (p !== "granted") { return ""; }
      return registerWorker().then(function () { return navigator.serviceWorker.ready; }).then(function (reg) {
        return reg.pushManager.getSubscription().then(function (sub) {
          if (sub && !renew) { return sub; }
          var old = sub ? sub.unsubscribe() : Promise.resolve();
          return old.then(function () { return fetch(api + "config", { cache: "no-store" }); })
            .then(function (r) { return r.json(); })
            .then(function (cfg) {
              return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: unb64url(cfg.vapidKey) });
            });
        });
      }).then(function (sub) { return sub ? JSON.stringify(sub) : ""; });
    });
  }

  // --- screens ------------------------------------------------------------
  function show(id) {
    ["setup", "main", "none"].forEach(function (s) { $(s).hidden = s !== id; });
  }
  function say(kind, msg) {
    $("error").hidden = kind !== "error" || !msg;
    $("info").hidden = kind !== "info" || !msg;
    $(kind === "error" ? "error" : "info").textContent = msg || "";
    if (kind === "error" && msg) { $("info").hidden = true; }
  }
  function guessName() {
    var ua = navigator.userAgent;
    if (/iPhone/.test(ua)) { return "iPhone"; }
    if (/iPad/.test(ua)) { return "iPad"; }
    if (/Android/.test(ua)) { return t("push.app.setup.android"); }
    return t("push.app.setup.this_browser");
  }

  function setUp(token) {
    show("setup");
    $("heading").textContent = t("push.app.setup.heading");
    $("setup-host").textContent = location.host;
    $("device-name").value = guessName();
    $("ios-hint").hidden = !(/iPhone|iPad/.test(navigator.userAgent) && !navigator.standalone);
    $("setup-button").onclick = function () {
      var btn = $("setup-button"), done = t("push.app.setup.done");
      btn.disabled = true;
      say("info", t("push.app.setup.working"));
      var dev = { name: $("device-name").value };
      subscription(true, false).catch(function (e) {
        done = t("push.app.setup.done_no_notifications", { Reason: e.message });
        return "";
      }).then(function (sub) {
        return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]).then(function (keys) {
          dev.keys = keys;
          return crypto.subtle.exportKey("raw", keys.publicKey);
        }).then(function (raw) {
          var key = b64url(raw);
          return sign(dev.keys.privateKey, signedText("enrol", [token, key])).then(function (sig) {
            return post("enrol", { token: token, key: key, subscription: sub, name: dev.name, sig: sig });
          });
        });
      }).then(function (res) {
        dev.id = res.device; dev.user = res.user; dev.name = res.name;
        return saveDevice(dev);
      }).then(function () {
        history.replaceState(null, "", location.pathname);
        return main();
      }).then(function () {
        say("info", done);
      }).catch(function (e) {
        btn.disabled = false;
        say("error", e.message);
      });
    };
  }

  var current = null, timer = null;

  function main() {
    return loadDevice().then(function (dev) {
      if (!dev) {
        show("none");
        $("heading").textContent = t("push.app.none.heading");
        return;
      }
      current = dev;
      show("main");
      $("heading").textContent = t("push.app.main.heading");
      $("rename").value = dev.name;
      // The worker is served with its notifications' words in this
      // page's language: fetching it again replaces it when they changed.
      registerWorker().then(function (reg) { return reg && reg.update(); }).catch(function () {});
      return refresh(false);
    });
  }

  // refresh lists the waiting requests, sending the current subscription
  // so the server can renew one its push service dropped.
  function refresh(renew) {
    if (!current) { return Promise.resolve(); }
    clearTimeout(timer);
    return subscription(false, renew).catch(function () { return ""; }).then(function (sub) {
      return signed(current, "pending", [sub], { subscription: sub }).then(function (res) {
        $("account").textContent = res.user + " · " + res.name;
        var on = res.notifications;
        $("notify-state").textContent = on ? t("push.app.main.notifications_on") : t("push.app.main.notifications_off");
        $("notify-button").hidden = on || !pushSupported() || Notification.permission === "denied";
        if (!on && sub && !renew) { return refresh(true); } // the server lost it: subscribe again
        render(res.requests || []);
      });
    }).catch(function (e) {
      say("error", e.message);
      if (e.status === 404) { show("none"); }
    }).then(function () {
      timer = setTimeout(function () { refresh(false); }, document.hidden ? 15000 : 3000);
    });
  }

  var answering = {};

  function render(reqs) {
    var box = $("requests");
    $("empty").hidden = reqs.length > 0;
    var keep = {};
    reqs.forEach(function (r) { keep[r.request] = true; });
    Array.prototype.slice.call(box.children).forEach(function (el) {
      if (!keep[el.dataset.id]) { box.removeChild(el); }
    });
    reqs.forEach(function (r) {
      if (box.querySelector('[data-id="' + CSS.escape(r.request) + '"]')) { return; }
      say("info", ""); // a new request: the last answer's message is old news
      box.appendChild(requestCard(r));
    });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text) { e.textContent = text; }
    return e;
  }

  function requestCard(r) {
    var card = el("section", { "class": "request", "data-id": r.request });
    card.appendChild(el("h2", {}, t("push.app.request.heading", { Host: r.host })));
    var when = new Date(r.time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    card.appendChild(el("p", { "class": "small" }, t("push.app.request.details", { User: r.user, Time: when, From: r.from || r.ip })));
    // The phone is not told the number: the user types the one the
    // sign-in page shows, so a tap without looking is right 1 time in 90.
    var inputId = "number-" + r.request;
    var how = el("div", { "class": "stack type-number" });
    how.appendChild(el("label", { "for": inputId }, t("push.app.request.number")));
    var typed = el("input", { id: inputId, type: "text", inputmode: "numeric", pattern: "[0-9]*", maxlength: "2",
      autocomplete: "off", "class": "number-input", "aria-describedby": inputId + "-hint" });
    how.appendChild(typed);
    how.appendChild(el("p", { id: inputId + "-hint", "class": "small" }, t("push.app.request.hint")));
    card.appendChild(how);
    var approve = el("button", { type: "button", "class": "approve", disabled: "" }, t("push.app.request.approve"));
    typed.oninput = function () {
      typed.value = typed.value.replace(/[^0-9]/g, "").slice(0, 2);
      approve.disabled = typed.value.length !== 2;
    };
    typed.onkeydown = function (e) {
      if (e.key === "Enter" && !approve.disabled) { approve.click(); }
    };
    var actions = el("div", { "class": "actions" });
    var deny = el("button", { type: "button", "class": "secondary deny" }, t("push.app.request.deny"));
    actions.appendChild(deny);
    actions.appendChild(approve);
    card.appendChild(actions);
    var followUp = el("div", { "class": "follow-up", hidden: "" });
    followUp.appendChild(el("p", {}, t("push.app.request.report_hint")));
    var fa = el("div", { "class": "actions" });
    var justDeny = el("button", { type: "button", "class": "secondary" }, t("push.app.request.just_deny"));
    var report = el("button", { type: "button", "class": "report" }, t("push.app.request.report"));
    fa.appendChild(justDeny);
    fa.appendChild(report);
    followUp.appendChild(fa);
    card.appendChild(followUp);

    approve.onclick = function () { answer(card, r, parseInt(typed.value, 10), "approve"); };
    deny.onclick = function () { actions.hidden = true; how.hidden = true; followUp.hidden = false; };
    justDeny.onclick = function () { answer(card, r, 0, "deny"); };
    report.onclick = function () { answer(card, r, 0, "report"); };
    if (location.hash === "#request=" + encodeURIComponent(r.request)) { card.scrollIntoView(); }
    return card;
  }

  function answer(card, r, number, decision) {
    if (answering[r.request]) { return; }
    answering[r.request] = true;
    card.querySelectorAll("button, input").forEach(function (b) { b.disabled = true; });
    signed(current, "answer", [r.request, String(number), decision], { request: r.request, number: number, decision: decision })
      .then(function (res) {
        say(res.result === "approved" ? "info" : "error", res.message);
      }).catch(function (e) {
        say("error", e.message);
      }).then(function () {
        if (card.parentNode) { card.parentNode.removeChild(card); }
        $("empty").hidden = $("requests").children.length > 0;
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) {
      say("error", t("push.app.error.no_crypto"));
      return;
    }
    $("notify-button").onclick = function () {
      subscription(true, false).then(function () { return refresh(false); }).catch(function (e) { say("error", e.message); });
    };
    $("rename-form").onsubmit = function (e) {
      e.preventDefault();
      var name = $("rename").value;
      signed(current, "rename", [name], { name: name }).then(function (res) {
        current.name = res.name;
        return saveDevice(current).then(function () {
          say("info", t("push.app.main.saved", { Name: res.name }));
          return refresh(false);
        });
      }).catch(function (err) { say("error", err.message); });
    };
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", function () { refresh(false); });
    }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(false); } });
    var m = /^#enrol=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (m) { setUp(m[1]); } else { main().catch(function (e) { say("error", e.message); }); }
  });
})();
