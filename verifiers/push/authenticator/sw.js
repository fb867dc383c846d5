// The authenticator's service worker: it shows a notification for every
// approval request pushed to this device (the payload arrives decrypted
// by the browser) and opens the app when the notification is tapped.
"use strict";
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (e) {
  var n = {};
  try { n = e.data ? e.data.json() : {}; } catch (_) { n = {}; }
  var when = n.time ? new Date(n.time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  var body = "Requested" + (when ? " at " + when : "") + (n.from || n.ip ? " from " + (n.from || n.ip) : "") + ". Open to approve or deny.";
  e.waitUntil(Promise.all([
    self.registration.showNotification("Sign in to " + (n.host || "your account") + "?", {
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
