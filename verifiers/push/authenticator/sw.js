// The authenticator's service worker: it shows a notification for every
// approval request pushed to this device (the payload arrives decrypted
// by the browser) and opens the app when the notification is tapped.
"use strict";
// The notifications' words in the phone's language, by message ID, each
// argument written {Name}: the server fills them in where it serves this
// file (app.go), as the app's page asks for it.
var words = {};
function t(id, args) {
  return (words[id] || id).replace(/\{(\w+)\}/g, function (m, name) {
    return args && Object.prototype.hasOwnProperty.call(args, name) ? String(args[name]) : m;
  });
}
// from says where a sign-in came from, as push.ReadableAddress does but
// in the phone's words: the payload's "from" is in the sign-in page's
// language. The server marked the address (the server's own loopback, or
// a private network) when "from" is more than the address.
function from(n) {
  var ip = n.ip || "", addr = ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  if (!n.from || n.from === addr || n.from === ip || n.from.indexOf(addr) < 0) { return n.from || ip; }
  if (addr === "::1" || /^127\./.test(addr)) { return t("push.address.server", { Address: addr }); }
  return t("push.address.private", { Address: addr });
}

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (e) {
  var n = {};
  try { n = e.data ? e.data.json() : {}; } catch (_) { n = {}; }
  var when = n.time ? new Date(n.time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  var where = from(n);
  var body = when && where ? t("push.app.notification.body", { Time: when, From: where })
    : when ? t("push.app.notification.body_time", { Time: when })
      : where ? t("push.app.notification.body_from", { From: where })
        : t("push.app.notification.body_plain");
  var title = n.host ? t("push.app.request.heading", { Host: n.host }) : t("push.app.notification.title_no_host");
  e.waitUntil(Promise.all([
    self.registration.showNotification(title, {
      body: body,
      tag: n.request || "stepgate",
      renotify: true,
      requireInteraction: true,
      icon: "icon-192.png",
      data: { request: n.request || "" }
    }),
    // An open app refreshes its list at once.
    self.clients.matchAll({ type: "window" }).then(function (cs) {
      cs.forEach(function (c) { c.postMessage({ type: "request" }); });
    })
  ]));
});

self.addEventListener("notificationclick", function (e) {
  e.notification.close();
  var id = (e.notification.data && e.notification.data.request) || "";
  var url = new URL("./#request=" + encodeURIComponent(id), self.registration.scope).href;
  e.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (cs) {
    for (var i = 0; i < cs.length; i++) {
      if (cs[i].url.indexOf(self.registration.scope) === 0 && "focus" in cs[i]) {
        cs[i].postMessage({ type: "request" });
        return cs[i].focus();
      }
    }
    return self.clients.openWindow(url);
  }));
});
