/* Gridwatch: helpers shared by the three pages. No innerHTML with data: text goes in as text. */
(function () {
  "use strict";

  function readConfig() {
    var node = document.getElementById("gw-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  /* el("li", {class: "x", "data-id": 3}, [child, "text"]) — strings become text nodes. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "class") node.className = value;
        else if (key === "hidden") node.hidden = true;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /* The server may coalesce events into a list of payloads. */
  function asList(payload) {
    return Array.isArray(payload) ? payload : [payload];
  }

  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  var timeFormats = {};
  function formatTime(iso, lang, withDate) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var key = lang + (withDate ? "d" : "t");
    if (!timeFormats[key]) {
      var opts = { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
      if (withDate) { opts.month = "2-digit"; opts.day = "2-digit"; }
      timeFormats[key] = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "zh-CN", opts);
    }
    return timeFormats[key].format(date);
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  /* REST with the page's Bearer token; rejects with {status, error} on a non-2xx answer. */
  function api(token, path, options) {
    var opts = options || {};
    var headers = { "Authorization": "Bearer " + token, "Accept": "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: opts.method || "GET",
      headers: headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var error = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
          return Promise.reject({ status: response.status, error: error });
        }
        return data;
      });
    });
  }

  /* Connection indicator in the header: connecting | online | offline | signin. */
  function connectSocket(namespace, token, t, handlers) {
    var indicator = document.getElementById("conn");
    function show(state) {
      if (!indicator) return;
      indicator.setAttribute("data-state", state);
      var text = indicator.querySelector(".conn-text");
      if (text) text.textContent = t[state] || state;
    }
    show("connecting");
    var socket = window.io(namespace, {
      auth: { token: token },
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10000,
      timeout: 20000
    });
    var connects = 0;
    socket.on("connect", function () {
      show("online");
      connects += 1;
      if (handlers.connect) handlers.connect(connects > 1);
    });
    var revoked = false;
    socket.on("session:revoked", function () {
      // The account was disabled or its sign-ins ended: stop, and ask to sign in again.
      revoked = true;
      socket.disconnect();
      show("signin");
    });
    socket.on("disconnect", function (reason) {
      if (revoked) return;
      show("offline");
      // A server-side disconnect is not retried by socket.io itself.
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 3000);
      if (handlers.disconnect) handlers.disconnect(reason);
    });
    socket.on("connect_error", function (err) {
      var data = err && err.data;
      if (data && (data.code === "unauthorized" || data.code === "forbidden")) {
        show("signin");
      } else {
        show("offline");
      }
    });
    socket.io.on("reconnect_attempt", function () { show("connecting"); });
    window.addEventListener("online", function () { if (!socket.connected) socket.connect(); });
    return socket;
  }

  /* WebAudio beeps; browsers start audio only after a user gesture, so unlock on first input. */
  var audio = null;
  function audioContext() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) audio = new Ctx();
    return audio;
  }
  function unlockAudio() {
    var ctx = audioContext();
    if (ctx && ctx.state === "suspended") ctx.resume();
  }
  ["pointerdown", "keydown", "touchstart"].forEach(function (type) {
    window.addEventListener(type, unlockAudio, { passive: true });
  });
  function beep(pattern) {
    var ctx = audioContext();
    if (!ctx) return false;
    if (ctx.state === "suspended") ctx.resume();
    var at = ctx.currentTime + 0.02;
    (pattern || [[880, 0.18], [0, 0.08], [880, 0.18], [0, 0.08], [1320, 0.3]]).forEach(function (step) {
      var freq = step[0], length = step[1];
      if (freq > 0) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.type = "square";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + length + 0.02);
      }
      at += length;
    });
    return ctx.state === "running";
  }
  function audioBlocked() {
    var ctx = audioContext();
    return !!ctx && ctx.state !== "running";
  }

  /* WGS-84 → GCJ-02, to draw on Chinese base maps (storage stays WGS-84). */
  function outOfChina(lat, lon) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }
  function wgs84ToGcj02(lat, lon) {
    if (outOfChina(lat, lon)) return [lat, lon];
    var a = 6378245.0, ee = 0.00669342162296594323, PI = Math.PI;
    var x = lon - 105.0, y = lat - 35.0;
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dLat += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dLat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dLon += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dLon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = lat / 180.0 * PI;
    var magic = Math.sin(radLat);
    magic = 1 - ee * magic * magic;
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((a * (1 - ee)) / (magic * sqrtMagic) * PI);
    dLon = (dLon * 180.0) / (a / sqrtMagic * Math.cos(radLat) * PI);
    return [lat + dLat, lon + dLon];
  }

  window.GW = {
    readConfig: readConfig, el: el, clear: clear, asList: asList, fmt: fmt,
    formatTime: formatTime, uuid: uuid, api: api, connectSocket: connectSocket,
    beep: beep, audioBlocked: audioBlocked, unlockAudio: unlockAudio,
    wgs84ToGcj02: wgs84ToGcj02
  };
})();
