/* Gridwatch informant service worker: the page shell works without network.
   - the page HTML (/informant): network first, the last good copy when offline;
   - the shell's static files: cache first, refreshed in the background;
   - everything else (the API, Socket.IO, photos) is never touched: it goes to the network. */
"use strict";

var VERSION = "gw-informant-v1";
var PAGE = "/informant";
var SHELL = [
  "/static/css/app.css",
  "/static/js/common.js",
  "/static/js/informant.js",
  "/static/vendor/socket.io.min.js",
  "/static/favicon.svg",
  "/static/icons/informant.svg",
  "/static/informant.webmanifest"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(VERSION)
      .then(function (cache) {
        // The page that registered us was loaded before we existed: fetch a copy for offline start.
        var page = fetch(PAGE, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
          return keepable(response) ? cache.put(PAGE, response) : null;
        }).catch(function () { /* cached at the next online visit */ });
        return Promise.all([cache.addAll(SHELL), page]);
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.map(function (key) {
        return key !== VERSION && key.indexOf("gw-informant-") === 0 ? caches.delete(key) : null;
      }));
    }).then(function () { return self.clients.claim(); })
  );
});

/* The page is cached under its path only: /informant?lang=en and /informant share one copy,
   whose language is the one last loaded online. */
function isPage(url, request) {
  return request.mode === "navigate" && url.pathname === PAGE;
}
function isShell(url) {
  return SHELL.indexOf(url.pathname) >= 0 || url.pathname.indexOf("/static/icons/") === 0;
}

/* Keep only a real page: not the login page after a redirect, not an error. */
function keepable(response) {
  return response.ok && !response.redirected && response.type === "basic";
}

function pageFromNetwork(request) {
  return fetch(request).then(function (response) {
    if (keepable(response)) {
      var copy = response.clone();
      caches.open(VERSION).then(function (cache) { return cache.put(PAGE, copy); });
    }
    return response;
  });
}

function staticFromCache(request, url) {
  return caches.open(VERSION).then(function (cache) {
    return cache.match(url.pathname).then(function (hit) {
      var refresh = fetch(request).then(function (response) {
        if (response.ok) cache.put(url.pathname, response.clone());
        return response;
      });
      if (hit) {
        refresh.catch(function () { /* offline: the cached copy will do */ });
        return hit;
      }
      return refresh;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (isPage(url, request)) {
    event.respondWith(pageFromNetwork(request).catch(function () {
      return caches.open(VERSION).then(function (cache) { return cache.match(PAGE); })
        .then(function (hit) { return hit || Response.error(); });
    }));
  } else if (isShell(url)) {
    event.respondWith(staticFromCache(request, url));
  }
  // Anything else (/api/, /socket.io/, other pages): not handled here, straight to the network.
});

/* The page tells the worker to forget the cached page when its user signs out. */
self.addEventListener("message", function (event) {
  if (event.data === "signed-out") {
    event.waitUntil(caches.delete(VERSION));
  }
});
