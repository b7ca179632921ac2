/* Informant phone: never lose a report. Every report is stored locally first, then sent,
   and resent with the same client_id until the server acknowledges it. */
(function () {
  "use strict";
  var GW = window.GW, cfg = GW.readConfig(), t = cfg.t, codes = cfg.codes;
  var STORE = "gw.informant." + cfg.user_id + ".reports";
  var KEEP_SENT = 30;
  var form = document.getElementById("report-form");
  var list = document.getElementById("my-reports");
  var empty = document.getElementById("mine-empty");
  var formError = document.getElementById("form-error");
  var posStatus = document.getElementById("pos-status");
  var latInput = form.elements.lat, lonInput = form.elements.lon;
  var textInput = form.elements.text, counter = document.getElementById("text-count");
  var inflight = {};
  var position = { source: cfg.cell ? "cell" : "none", accuracy: null };

  /* ---- local queue ---- */
  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || "[]") || []; } catch (e) { return []; }
  }
  var items = load();
  function save() {
    // Keep every unsent report; trim old confirmed ones.
    var sent = items.filter(function (r) { return r.state !== "queued"; });
    if (sent.length > KEEP_SENT) {
      var drop = sent.slice(0, sent.length - KEEP_SENT).map(function (r) { return r.client_id; });
      items = items.filter(function (r) { return drop.indexOf(r.client_id) < 0; });
    }
    try { localStorage.setItem(STORE, JSON.stringify(items)); } catch (e) { /* storage full: keep in memory */ }
  }
  function find(pred) {
    for (var i = 0; i < items.length; i++) if (pred(items[i])) return items[i];
    return null;
  }

  /* ---- rendering (text only) ---- */
  function render(item) {
    var node = list.querySelector('[data-client-id="' + item.client_id + '"]');
    var fresh = !node;
    if (fresh) node = GW.el("li", { class: "my-report", "data-client-id": item.client_id });
    GW.clear(node);
    node.setAttribute("data-state", item.state);
    node.setAttribute("data-risk-level", item.risk_level || "");
    if (item.server_id) node.setAttribute("data-server-id", item.server_id);
    var stateLabel = item.state === "queued" ? (inflight[item.client_id] ? t.sending : t.queued) : t[item.state];
    var head = GW.el("div", { class: "my-report-head" }, [
      GW.el("span", { class: "badge state-" + item.state, text: stateLabel }),
      GW.el("strong", { text: codes.category[item.payload.category] || item.payload.category }),
      GW.el("span", { class: "muted", text: GW.formatTime(item.created, cfg.lang, true) })
    ]);
    node.appendChild(head);
    if (item.payload.text) node.appendChild(GW.el("p", { class: "my-report-text", text: item.payload.text }));
    var meta = GW.el("div", { class: "my-report-meta" });
    if (item.server_id) meta.appendChild(GW.el("span", { class: "server-id", text: t.report_no + " " + item.server_id }));
    if (item.state === "sent" && item.cell_code === null) meta.appendChild(GW.el("span", { class: "warn", text: t.outside }));
    if (item.risk_level) {
      meta.appendChild(GW.el("span", { class: "risk risk-" + item.risk_level, text: t.risk + ": " + (codes.risk[item.risk_level] || item.risk_level) }));
    }
    if (item.status && item.status !== "new") {
      meta.appendChild(GW.el("span", { class: "muted", text: t.status + ": " + (codes.report_status[item.status] || item.status) }));
    }
    if (item.error) meta.appendChild(GW.el("span", { class: "error-text", text: item.error }));
    if (meta.childNodes.length) node.appendChild(meta);
    if (fresh) list.insertBefore(node, list.firstChild);
    empty.hidden = items.length > 0;
  }
  function renderAll() {
    GW.clear(list);
    items.slice().forEach(render);
    empty.hidden = items.length > 0;
  }

  /* ---- sending ---- */
  var PERMANENT = { validation_failed: 1, forbidden: 1, not_found: 1 };
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
          item.error = error.message || error.code || null; // rate limited, internal: retry later
          setTimeout(function () { send(item); }, 15000);
        }
      }
      save();
      render(item);
    });
  }
  function flush() {
    items.forEach(function (item) { if (item.state === "queued") send(item); });
  }

  var socket = GW.connectSocket("/informant", cfg.token, t, {
    connect: flush
  });
  socket.on("report:updated", function (payload) {
    GW.asList(payload).forEach(function (update) {
      var item = find(function (r) { return r.server_id === update.id; });
      if (!item) return;
      if (update.risk_level !== undefined) item.risk_level = update.risk_level;
      if (update.status) item.status = update.status;
      save();
      render(item);
    });
  });
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

  /* ---- the form ---- */
  function updateCounter() { counter.textContent = textInput.value.length + " / 2000"; }
  textInput.addEventListener("input", updateCounter);

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
      category: form.elements.category.value,
      text: text,
      severity: parseInt(form.elements.severity.value, 10) || null,
      lat: lat,
      lon: lon,
      occurred_at: new Date().toISOString()
    };
    if (payload.severity === null) delete payload.severity;
    if (position.source === "gps" && position.accuracy !== null) {
      payload.accuracy_m = Math.min(100000, Math.round(position.accuracy * 10) / 10);
    }
    var item = { client_id: payload.client_id, payload: payload, state: "queued", created: payload.occurred_at };
    items.push(item);
    save();
    render(item);
    textInput.value = "";
    updateCounter();
    send(item);
  });

  renderAll();
  showPosition();
  updateCounter();
  locate();
})();
