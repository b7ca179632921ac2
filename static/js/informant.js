/* Informant phone: never lose a report. Every report (with its photos) is stored on the phone
   first (IndexedDB), then sent, and resent with the same client_id until the server
   acknowledges it; photos follow over REST once the report has its server id. The daily
   "all quiet" check-in is queued the same way. The page shell works offline through a
   service worker (/informant-sw.js). */
(function () {
  "use strict";
  var GW = window.GW, cfg = GW.readConfig(), t = cfg.t, codes = cfg.codes;
  var PREFIX = "gw.informant." + cfg.user_id + ".";
  var OLD_KEY = PREFIX + "reports";     // the queue before IndexedDB: migrated once, then removed
  var PENDING_KEY = PREFIX + "pending"; // synchronous copy of unsent reports (no photos)
  var DRAFT_KEY = PREFIX + "draft";     // what is being typed
  var CHECKIN_KEY = PREFIX + "checkin"; // the last successful check-in
  var KEEP_SENT = 30, MAX_PHOTOS = 3, PHOTO_SIDE = 1600, PHOTO_BYTES = 500 * 1024;
  var PERMANENT = { validation_failed: 1, forbidden: 1, not_found: 1 };

  var form = document.getElementById("report-form");
  var list = document.getElementById("my-reports");
  var empty = document.getElementById("mine-empty");
  var formError = document.getElementById("form-error");
  var posStatus = document.getElementById("pos-status");
  var latInput = form.elements.lat, lonInput = form.elements.lon;
  var textInput = form.elements.text, counter = document.getElementById("text-count");
  var categorySelect = form.elements.category, severitySelect = form.elements.severity;
  var photoInput = document.getElementById("photo-input");
  var photoList = document.getElementById("photo-list");
  var photoCount = document.getElementById("photo-count");
  var photoNote = document.getElementById("photo-note");
  var photoAdd = document.getElementById("photo-add");
  var checkinBox = document.getElementById("checkin");
  var checkinBtn = document.getElementById("checkin-btn");
  var checkinStatus = document.getElementById("checkin-status");
  var position = { source: cfg.cell ? "cell" : "none", accuracy: null };

  /* ---- IndexedDB: a tiny promise wrapper ---- */
  var dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
        var request = window.indexedDB.open("gridwatch-informant", 1);
        request.onupgradeneeded = function () {
          var db = request.result;
          ["reports", "checkins", "kv"].forEach(function (name) {
            if (!db.objectStoreNames.contains(name)) {
              db.createObjectStore(name, { keyPath: name === "kv" ? "key" : "client_id" });
            }
          });
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
        request.onblocked = function () { reject(new Error("IndexedDB blocked")); };
      });
    }
    return dbPromise;
  }
  function idb(store, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode), result;
        var request = work(tx.objectStore(store));
        if (request) request.onsuccess = function () { result = request.result; };
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }
  var store = {
    all: function (name) { return idb(name, "readonly", function (s) { return s.getAll(); }); },
    get: function (name, key) { return idb(name, "readonly", function (s) { return s.get(key); }); },
    put: function (name, value) { return idb(name, "readwrite", function (s) { return s.put(value); }); },
    del: function (name, key) { return idb(name, "readwrite", function (s) { return s["delete"](key); }); }
  };
  function quietly(promise) { return promise.catch(function () { /* kept in memory */ }); }

  function lsGet(key, fallback) {
    try { var raw = localStorage.getItem(key); return raw ? JSON.parse(raw) : fallback; } catch (e) { return fallback; }
  }
  function lsSet(key, value) {
    try {
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or disabled */ }
  }

  /* ---- times in Asia/Shanghai ---- */
  var dayFmt = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });
  var hmFmt = new Intl.DateTimeFormat(cfg.lang === "en" ? "en-GB" : "zh-CN",
    { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });
  var dateFmt = new Intl.DateTimeFormat(cfg.lang === "en" ? "en-GB" : "zh-CN",
    { timeZone: "Asia/Shanghai", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  function shanghaiDay(date) { return dayFmt.format(date); }

  /* ---- the report queue ---- */
  var items = [];           // newest last
  var inflight = {};        // client_id → true while a report:submit waits for its ack
  function find(clientId) {
    for (var i = 0; i < items.length; i++) if (items[i].client_id === clientId) return items[i];
    return null;
  }
  function mirrorPending() {
    lsSet(PENDING_KEY, items.filter(function (r) { return r.state === "queued"; }).map(function (r) {
      return { client_id: r.client_id, payload: r.payload, state: r.state, created: r.created, error: r.error || null };
    }));
  }
  function persist(item) {
    mirrorPending();
    var record = {};
    Object.keys(item).forEach(function (key) { record[key] = item[key]; });
    record.user_id = cfg.user_id;
    return quietly(store.put("reports", record));
  }
  function photosPending(item) {
    return (item.photos || []).some(function (p) { return p.state === "queued"; });
  }
  function trim() {
    // Keep every unsent report and photo; forget old confirmed ones.
    var done = items.filter(function (r) { return r.state !== "queued" && !photosPending(r); });
    if (done.length <= KEEP_SENT) return;
    done.slice(0, done.length - KEEP_SENT).forEach(function (r) {
      items.splice(items.indexOf(r), 1);
      quietly(store.del("reports", r.client_id));
      var node = list.querySelector('[data-client-id="' + r.client_id + '"]');
      if (node) node.parentNode.removeChild(node);
    });
  }

  /* ---- rendering (text only) ---- */
  function photoSummary(item) {
    var photos = item.photos || [];
    if (!photos.length) return null;
    var sent = photos.filter(function (p) { return p.state === "sent"; }).length;
    var failed = photos.filter(function (p) { return p.state === "failed"; });
    var text;
    if (sent === photos.length) text = GW.fmt(t.photos_sent, { n: sent });
    else if (sent > 0) text = GW.fmt(t.photos_some, { n: sent, total: photos.length });
    else if (!failed.length) text = GW.fmt(t.photos_waiting, { total: photos.length });
    else text = GW.fmt(t.photos_some, { n: 0, total: photos.length });
    var nodes = [GW.el("span", { class: "photos-state", text: text })];
    if (failed.length) nodes.push(GW.el("span", { class: "error-text", text: GW.fmt(t.photo_failed, { reason: failed[0].error || "" }) }));
    return nodes;
  }
  function render(item) {
    var node = list.querySelector('[data-client-id="' + item.client_id + '"]');
    var fresh = !node;
    if (fresh) node = GW.el("li", { class: "my-report", "data-client-id": item.client_id });
    GW.clear(node);
    node.setAttribute("data-state", item.state);
    node.setAttribute("data-risk-level", item.risk_level || "");
    if (item.server_id) node.setAttribute("data-server-id", item.server_id);
    var photos = item.photos || [];
    node.setAttribute("data-photos", photos.length);
    node.setAttribute("data-photos-sent", photos.filter(function (p) { return p.state === "sent"; }).length);
    var stateLabel = item.state === "queued" ? (inflight[item.client_id] ? t.sending : t.queued) : t[item.state];
    node.appendChild(GW.el("div", { class: "my-report-head" }, [
      GW.el("span", { class: "badge state-" + item.state, text: stateLabel }),
      GW.el("strong", { text: codes.category[item.payload.category] || item.payload.category }),
      GW.el("span", { class: "muted", text: GW.formatTime(item.created, cfg.lang, true) })
    ]));
    if (item.payload.text) node.appendChild(GW.el("p", { class: "my-report-text", text: item.payload.text }));
    var meta = GW.el("div", { class: "my-report-meta" });
    if (item.server_id) meta.appendChild(GW.el("span", { class: "server-id", text: t.report_no + " " + item.server_id }));
    if (item.state === "queued" && !inflight[item.client_id] && !(socket && socket.connected)) {
      meta.appendChild(GW.el("span", { class: "muted", text: t.saved_offline }));
    }
    if (item.state === "sent" && item.cell_code === null) meta.appendChild(GW.el("span", { class: "warn", text: t.outside }));
    if (item.risk_level) {
      meta.appendChild(GW.el("span", { class: "risk risk-" + item.risk_level, text: t.risk + ": " + (codes.risk[item.risk_level] || item.risk_level) }));
    }
    if (item.status && item.status !== "new") {
      meta.appendChild(GW.el("span", { class: "muted", text: t.status + ": " + (codes.report_status[item.status] || item.status) }));
    }
    if (item.error) meta.appendChild(GW.el("span", { class: "error-text", text: item.error }));
    (photoSummary(item) || []).forEach(function (n) { meta.appendChild(n); });
    if (meta.childNodes.length) node.appendChild(meta);
    if (fresh) list.insertBefore(node, list.firstChild);
    empty.hidden = items.length > 0;
  }
  function renderAll() {
    GW.clear(list);
    items.sort(function (a, b) { return a.created < b.created ? -1 : a.created > b.created ? 1 : 0; });
    items.forEach(render);
    empty.hidden = items.length > 0;
  }

  /* ---- sending reports ---- */
  function send(item) {
    if (!socket.connected || inflight[item.client_id] || item.state !== "queued") return;
    inflight[item.client_id] = true;
    render(item);
    socket.timeout(20000).emit("report:submit", item.payload, function (err, ack) {
      delete inflight[item.client_id];
      if (err || !ack) { render(item); return; } // no answer: stays queued, resent on reconnect
      if (ack.ok) {
        item.state = "sent";
        item.error = null;
        item.server_id = ack.report && ack.report.id;
        item.cell_code = ack.report ? ack.report.cell_code : undefined;
        item.status = ack.report && ack.report.status;
      } else {
        var error = ack.error || {};
        if (PERMANENT[error.code]) {
          item.state = "failed";
          item.error = (error.field ? error.field + ": " : "") + (error.message || error.code);
        } else {
          item.error = error.message || error.code || null; // rate limited, busy: retry later
          setTimeout(function () { send(item); }, 15000);
        }
      }
      persist(item);
      render(item);
      trim();
      pumpPhotos();
    });
  }

  /* ---- photos: REST upload, one at a time, after the report has its server id ---- */
  var photoBusy = false;
  function nextPhoto() {
    var now = Date.now();
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      if (item.state !== "sent" || !item.server_id) continue;
      var photos = item.photos || [];
      for (var j = 0; j < photos.length; j++) {
        if (photos[j].state === "queued" && (photos[j].retry_at || 0) <= now) return [item, photos[j]];
      }
    }
    return null;
  }
  function pumpPhotos() {
    if (photoBusy || navigator.onLine === false) return;
    var next = nextPhoto();
    if (!next) return;
    var item = next[0], photo = next[1];
    if (!photo.blob) { photo.state = "failed"; photo.error = t.photo_bad; persist(item); render(item); pumpPhotos(); return; }
    photoBusy = true;
    var body = new FormData();
    body.append("photo", photo.blob, "photo.jpg");
    body.append("client_id", photo.client_id);
    fetch("/api/reports/" + encodeURIComponent(item.server_id) + "/photos", {
      method: "POST",
      headers: { "Authorization": "Bearer " + cfg.token, "Accept": "application/json" },
      body: body,
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        var error = (data && data.error) || {};
        if (response.ok) {
          photo.state = "sent";
          photo.server_id = data && data.photo ? data.photo.id : null;
          photo.error = null;
          photo.blob = null; // the server has it: free the phone's storage
        } else if ([400, 413, 415, 422].indexOf(response.status) >= 0) {
          photo.state = "failed";
          photo.error = error.message || error.code || ("HTTP " + response.status);
        } else {
          photo.error = null;
          photo.retry_at = Date.now() + 15000; // busy, signed out, not there yet: later
        }
      });
    }, function () {
      photo.retry_at = Date.now() + 15000; // no network: later
    }).then(function () {
      photoBusy = false;
      persist(item);
      render(item);
      trim();
      pumpPhotos();
    });
  }

  /* ---- the daily "all quiet" check-in ---- */
  var checkins = [];        // unsent check-ins (normally at most one)
  var checkinInflight = {};
  var lastCheckin = lsGet(CHECKIN_KEY, null);
  function renderCheckin() {
    var pending = checkins.filter(function (c) { return c.state === "queued"; })[0];
    var failed = checkins.filter(function (c) { return c.state === "failed"; })[0];
    var state, text;
    var today = lastCheckin && shanghaiDay(new Date(lastCheckin.at)) === shanghaiDay(new Date());
    if (pending) {
      state = checkinInflight[pending.client_id] ? "sending" : "queued";
      text = checkinInflight[pending.client_id] ? t.checkin_sending : t.checkin_queued;
      checkinBox.setAttribute("data-client-id-pending", pending.client_id);
    } else if (failed) {
      state = "failed";
      text = GW.fmt(t.checkin_failed, { reason: failed.error || "" });
    } else if (today) {
      state = "done";
      text = GW.fmt(t.checkin_today, { time: hmFmt.format(new Date(lastCheckin.at)) });
    } else if (lastCheckin) {
      state = "none";
      text = GW.fmt(t.checkin_before, { date: dateFmt.format(new Date(lastCheckin.at)) });
    } else {
      state = "none";
      text = t.checkin_none;
    }
    if (!pending) checkinBox.removeAttribute("data-client-id-pending");
    checkinBox.setAttribute("data-state", state);
    if (lastCheckin) checkinBox.setAttribute("data-checkin-id", lastCheckin.client_id);
    checkinStatus.textContent = text;
  }
  function sendCheckin(checkin) {
    if (!socket.connected || checkinInflight[checkin.client_id] || checkin.state !== "queued") return;
    checkinInflight[checkin.client_id] = true;
    renderCheckin();
    var payload = { client_id: checkin.client_id };
    if (checkin.lat !== undefined && checkin.lon !== undefined) { payload.lat = checkin.lat; payload.lon = checkin.lon; }
    socket.timeout(20000).emit("checkin:submit", payload, function (err, ack) {
      delete checkinInflight[checkin.client_id];
      if (err || !ack) { renderCheckin(); return; }
      if (ack.ok) {
        checkin.state = "sent";
        lastCheckin = { client_id: checkin.client_id, at: (ack.checkin && ack.checkin.at) || new Date().toISOString() };
        lsSet(CHECKIN_KEY, lastCheckin);
        checkins.splice(checkins.indexOf(checkin), 1);
        quietly(store.del("checkins", checkin.client_id));
      } else {
        var error = ack.error || {};
        if (PERMANENT[error.code]) {
          checkin.state = "failed";
          checkin.error = error.message || error.code;
          quietly(store.put("checkins", checkin));
        } else {
          setTimeout(function () { sendCheckin(checkin); }, 15000);
        }
      }
      renderCheckin();
    });
  }
  checkinBtn.addEventListener("click", function () {
    // One tap is enough; tapping again while one waits does not make a second.
    var pending = checkins.filter(function (c) { return c.state === "queued"; })[0];
    if (!pending) {
      checkins = checkins.filter(function (c) { return c.state !== "failed"; });
      pending = { client_id: GW.uuid(), user_id: cfg.user_id, state: "queued", created: new Date().toISOString() };
      if (position.source === "gps") {
        var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
        if (isFinite(lat) && isFinite(lon)) { pending.lat = lat; pending.lon = lon; }
      }
      checkins.push(pending);
      quietly(store.put("checkins", pending));
    }
    if (navigator.vibrate) navigator.vibrate(30);
    renderCheckin();
    sendCheckin(pending);
  });

  function flush() {
    items.forEach(function (item) { if (item.state === "queued") send(item); });
    checkins.forEach(sendCheckin);
    pumpPhotos();
  }

  var socket = GW.connectSocket("/informant", cfg.token, t, {
    connect: flush,
    disconnect: function () { items.forEach(function (item) { if (item.state === "queued") render(item); }); }
  });
  socket.on("report:updated", function (payload) {
    GW.asList(payload).forEach(function (update) {
      var item = null;
      items.forEach(function (r) { if (r.server_id === update.id) item = r; });
      if (!item) return;
      if (update.risk_level !== undefined) item.risk_level = update.risk_level;
      if (update.status) item.status = update.status;
      persist(item);
      render(item);
    });
  });
  // A page started offline from the cache carries an old token: once online, a fresh page has a new one.
  socket.on("connect_error", function (err) {
    var data = err && err.data;
    if (!data || data.code !== "unauthorized" || navigator.onLine === false) return;
    var last = parseInt(sessionStorage.getItem(PREFIX + "reloaded") || "0", 10);
    if (Date.now() - last > 60000) {
      sessionStorage.setItem(PREFIX + "reloaded", String(Date.now()));
      window.location.reload();
    }
  });
  window.addEventListener("online", pumpPhotos);
  // Belt and braces on flaky networks: retry whatever is still queued now and then.
  setInterval(flush, 30000);

  /* ---- position ---- */
  function showPosition() {
    posStatus.setAttribute("data-source", position.source);
    if (position.source === "gps") posStatus.textContent = GW.fmt(t.gps, { m: Math.round(position.accuracy || 0) });
    else if (position.source === "manual") posStatus.textContent = t.manual;
    else if (position.source === "cell") posStatus.textContent = t.gps_none;
    else posStatus.textContent = t.gps_wait;
  }
  function locate() {
    if (!navigator.geolocation) { showPosition(); return; }
    posStatus.textContent = t.gps_wait;
    navigator.geolocation.getCurrentPosition(function (pos) {
      latInput.value = pos.coords.latitude.toFixed(6);
      lonInput.value = pos.coords.longitude.toFixed(6);
      position = { source: "gps", accuracy: pos.coords.accuracy };
      showPosition();
    }, function () {
      if (position.source !== "manual") position = { source: cfg.cell ? "cell" : "none", accuracy: null };
      showPosition();
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  [latInput, lonInput].forEach(function (input) {
    input.addEventListener("input", function () {
      position = { source: "manual", accuracy: null };
      showPosition();
    });
  });
  document.getElementById("locate-btn").addEventListener("click", locate);

  /* ---- category picker: icon buttons drive the select (the select stays the hook) ---- */
  var catButtons = Array.prototype.slice.call(form.querySelectorAll(".cat-btn"));
  function showCategory() {
    catButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-category") === categorySelect.value ? "true" : "false");
    });
  }
  catButtons.forEach(function (b) {
    b.addEventListener("click", function () {
      categorySelect.value = b.getAttribute("data-category");
      categorySelect.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
  categorySelect.addEventListener("change", showCategory);

  /* ---- the draft: nothing typed is lost by a reload ---- */
  function saveDraft() {
    lsSet(DRAFT_KEY, { category: categorySelect.value, severity: severitySelect.value, text: textInput.value });
  }
  function restoreDraft() {
    var draft = lsGet(DRAFT_KEY, null);
    if (!draft) return;
    if (draft.category && codes.category[draft.category]) categorySelect.value = draft.category;
    if (draft.severity && codes.severity[draft.severity]) severitySelect.value = draft.severity;
    if (typeof draft.text === "string" && !textInput.value) textInput.value = draft.text;
  }
  function updateCounter() { counter.textContent = textInput.value.length + " / 2000"; }
  textInput.addEventListener("input", function () { updateCounter(); saveDraft(); });
  categorySelect.addEventListener("change", saveDraft);
  severitySelect.addEventListener("change", saveDraft);

  /* ---- photos of the report being written ---- */
  var draftPhotos = []; // [{client_id, blob, type}]
  var working = 0;
  function saveDraftPhotos() {
    return quietly(store.put("kv", { key: PREFIX + "draft-photos", photos: draftPhotos }));
  }
  function renderDraftPhotos() {
    Array.prototype.forEach.call(photoList.querySelectorAll("img"), function (img) { URL.revokeObjectURL(img.src); });
    GW.clear(photoList);
    draftPhotos.forEach(function (photo) {
      var remove = GW.el("button", { type: "button", class: "photo-remove", "aria-label": t.photo_remove, text: "×" });
      remove.addEventListener("click", function () {
        draftPhotos = draftPhotos.filter(function (p) { return p !== photo; });
        saveDraftPhotos();
        renderDraftPhotos();
      });
      photoList.appendChild(GW.el("li", { class: "photo-thumb", "data-photo-id": photo.client_id }, [
        GW.el("img", { src: URL.createObjectURL(photo.blob), alt: "" }), remove
      ]));
    });
    photoCount.textContent = draftPhotos.length + " / " + MAX_PHOTOS;
    photoAdd.classList.toggle("is-full", draftPhotos.length + working >= MAX_PHOTOS);
    photoInput.disabled = draftPhotos.length + working >= MAX_PHOTOS;
  }
  function loadImage(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("unreadable")); };
      img.src = url;
    });
  }
  function toJpeg(img, scale, quality) {
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round((img.naturalWidth || img.width) * scale));
    canvas.height = Math.max(1, Math.round((img.naturalHeight || img.height) * scale));
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // transparent pixels would turn black in a JPEG
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) { if (blob) resolve(blob); else reject(new Error("toBlob")); }, "image/jpeg", quality);
    });
  }
  /* JPEG, longest side ≤ 1600 px, quality 0.7, at most 500 KB (lower quality, then smaller). */
  function compress(file) {
    return loadImage(file).then(function (img) {
      var longest = Math.max(img.naturalWidth || img.width, img.naturalHeight || img.height);
      if (!longest) throw new Error("empty");
      var scale = Math.min(1, PHOTO_SIDE / longest), quality = 0.7;
      function attempt(tries) {
        return toJpeg(img, scale, quality).then(function (blob) {
          if (blob.size <= PHOTO_BYTES || tries >= 8) return blob;
          if (quality > 0.45) quality -= 0.1; else scale *= 0.8;
          return attempt(tries + 1);
        });
      }
      return attempt(0);
    });
  }
  photoInput.addEventListener("change", function () {
    var files = Array.prototype.slice.call(photoInput.files || []);
    photoInput.value = "";
    var room = MAX_PHOTOS - draftPhotos.length - working;
    if (files.length > room) photoNote.textContent = t.photo_limit;
    files.slice(0, Math.max(0, room)).forEach(function (file) {
      working += 1;
      photoNote.textContent = t.photo_working;
      renderDraftPhotos();
      compress(file).then(function (blob) {
        draftPhotos.push({ client_id: GW.uuid(), blob: blob, type: "image/jpeg" });
        photoNote.textContent = t.photo_note;
        saveDraftPhotos();
      }, function () {
        photoNote.textContent = t.photo_bad;
      }).then(function () {
        working -= 1;
        renderDraftPhotos();
      });
    });
  });

  /* ---- the form ---- */
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    formError.hidden = true;
    var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      formError.textContent = t.need_pos;
      formError.hidden = false;
      latInput.focus();
      return;
    }
    var text = textInput.value.trim();
    if (text.length > 2000) { formError.textContent = t.too_long; formError.hidden = false; return; }
    var payload = {
      client_id: GW.uuid(),
      category: categorySelect.value,
      text: text,
      severity: parseInt(severitySelect.value, 10) || null,
      lat: lat,
      lon: lon,
      occurred_at: new Date().toISOString()
    };
    if (payload.severity === null) delete payload.severity;
    if (position.source === "gps" && position.accuracy !== null) {
      payload.accuracy_m = Math.min(100000, Math.round(position.accuracy * 10) / 10);
    }
    var item = {
      client_id: payload.client_id, payload: payload, state: "queued", created: payload.occurred_at,
      photos: draftPhotos.map(function (p) { return { client_id: p.client_id, blob: p.blob, state: "queued" }; })
    };
    items.push(item);
    persist(item);
    render(item);
    textInput.value = "";
    updateCounter();
    lsSet(DRAFT_KEY, null);
    draftPhotos = [];
    saveDraftPhotos();
    renderDraftPhotos();
    send(item);
  });

  /* ---- start: load the queue (migrating the old localStorage one), then send ---- */
  function load() {
    var old = lsGet(OLD_KEY, null), pending = lsGet(PENDING_KEY, []);
    return Promise.all([store.all("reports"), store.all("checkins"), store.get("kv", PREFIX + "draft-photos")])
      .then(function (found) {
        var reports = found[0].filter(function (r) { return r.user_id === cfg.user_id; });
        var known = {};
        reports.forEach(function (r) { known[r.client_id] = true; });
        var adopted = [];
        // Once: the localStorage queue of earlier versions; always: unsent reports that
        // reached the synchronous copy but not IndexedDB (a reload right after sending).
        (Array.isArray(old) ? old : []).concat(Array.isArray(pending) ? pending : []).forEach(function (r) {
          if (!r || !r.client_id || !r.payload || known[r.client_id]) return;
          known[r.client_id] = true;
          r.photos = r.photos || [];
          adopted.push(r);
        });
        return Promise.all(adopted.map(function (r) {
          r.user_id = cfg.user_id;
          return store.put("reports", r);
        })).then(function () {
          if (old !== null) lsSet(OLD_KEY, null);
          return { reports: reports.concat(adopted), checkins: found[1], draftPhotos: found[2] };
        });
      })
      .catch(function () {
        // No IndexedDB (private mode, old browser): the synchronous copies keep what is unsent.
        var fallback = (Array.isArray(old) ? old : []).concat(Array.isArray(pending) ? pending : []);
        return { reports: fallback.filter(function (r) { return r && r.client_id && r.payload; }), checkins: [], draftPhotos: null };
      })
      .then(function (loaded) {
        loaded.reports.forEach(function (r) {
          if (!find(r.client_id)) items.push(r);
        });
        loaded.checkins.forEach(function (c) {
          if (c.user_id === cfg.user_id && !checkins.some(function (x) { return x.client_id === c.client_id; })) checkins.push(c);
        });
        if (loaded.draftPhotos && Array.isArray(loaded.draftPhotos.photos) && !draftPhotos.length) {
          draftPhotos = loaded.draftPhotos.photos.filter(function (p) { return p && p.blob; }).slice(0, MAX_PHOTOS);
        }
        mirrorPending();
        renderAll();
        renderCheckin();
        renderDraftPhotos();
        trim();
        flush();
      });
  }

  restoreDraft();
  showCategory();
  updateCounter();
  renderCheckin();
  renderDraftPhotos();
  showPosition();
  locate();
  load();

  /* ---- installable, and the shell starts offline ---- */
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/informant-sw.js", { scope: "/informant" }).catch(function () {
      /* no offline start; everything else still works */
    });
    var logout = document.querySelector("form.logout");
    if (logout) {
      logout.addEventListener("submit", function () {
        // The cached page holds this user's token: forget it on sign-out.
        if (navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage("signed-out");
      });
    }
  }
})();
