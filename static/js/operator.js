/* Command room: live triage queue, map, incidents and dispatch. Report text is shown as text only. */
(function () {
  "use strict";
  var GW = window.GW, cfg = GW.readConfig(), t = cfg.t, codes = cfg.codes, el = GW.el;
  var RISK_RANK = { red: 0, orange: 1, yellow: 2, blue: 3 };
  var RISK_COLOUR = { red: "#c62828", orange: "#e65100", yellow: "#f9c80e", blue: "#1565c0" };
  var QUEUE_STATUSES = { "new": 1, triaged: 1 };
  var ENDED_TASK = { completed: 1, declined: 1, timed_out: 1, cancelled: 1 };

  var reports = new Map();        // id → report (queue only)
  var incidents = new Map();      // id → incident
  var tasks = new Map();          // id → task (of the selected incident)
  var selected = new Set();       // report ids ticked for one incident
  var markers = new Map();        // report id → circle marker
  var teamMarkers = new Map();    // team id → marker
  var selectedIncident = null;

  var queue = document.getElementById("queue");
  var queueEmpty = document.getElementById("queue-empty");
  var queueCount = document.getElementById("queue-count");
  var queueMsg = document.getElementById("queue-msg");
  var createSelected = document.getElementById("create-selected");
  var incidentList = document.getElementById("incidents");
  var incidentsEmpty = document.getElementById("incidents-empty");
  var detail = document.getElementById("detail");
  var detailError = document.getElementById("detail-error");

  function cat(code) { return codes.category[code] || code || ""; }
  /* Titles made by the server start with the category code: show its label instead. */
  function title(inc) {
    var raw = inc.title || "", prefix = (inc.category || "") + " · ";
    if (!raw) return cat(inc.category);
    return raw.indexOf(prefix) === 0 ? cat(inc.category) + " · " + raw.slice(prefix.length) : raw;
  }
  var INCIDENT_DONE = { resolved: 1, closed: 1, cancelled: 1 };
  function riskLabel(level) { return codes.risk[level || ""] || level; }
  function riskBadge(level) {
    return el("span", { class: "risk " + (level ? "risk-" + level : "risk-none"), text: riskLabel(level) });
  }
  function statusBadge(kind, status) {
    return el("span", { class: "status status-" + status, text: (codes[kind] && codes[kind][status]) || status });
  }
  /* {rule, points, category?|severity?|words?} → "Fire signs: 起火 +15" */
  function reasonText(reason) {
    if (!reason || typeof reason !== "object") return String(reason);
    var label = codes.reason[reason.rule] || reason.rule || "";
    var detail = "";
    if (reason.words && reason.words.length) detail = reason.words.join("、");
    else if (reason.category) detail = cat(reason.category);
    else if (reason.severity !== undefined && reason.severity !== null) detail = String(reason.severity);
    var points = typeof reason.points === "number" ? (reason.points >= 0 ? " +" : " ") + reason.points : "";
    return label + (detail ? ": " + detail : "") + points;
  }
  function say(node, text, isError) {
    node.textContent = text || "";
    node.classList.toggle("error-text", !!isError);
    node.hidden = !text;
  }
  function errorText(ack) {
    var e = (ack && ack.error) || {};
    return e.message || e.code || "error";
  }

  /* ---------------- map ----------------
   * One canvas renderer for everything drawn (areas and live markers), so 100,000 cells stay
   * cheap: counties at city zoom, townships at 11–12, villages at 13, cells from 14, each
   * fetched for the padded view only, simplified to the zoom, cached by level + rounded bbox.
   * Stored coordinates are WGS-84; with GCJ-02 tiles everything is shifted only to draw. */
  // Leaflet puts string content in as HTML: hand it elements holding text instead.
  function textNode(text) { return el("span", { text: text }); }
  var gcj = !!(cfg.tile_url && cfg.tile_crs === "gcj02");
  function ll(lat, lon) {
    return gcj ? GW.wgs84ToGcj02(lat, lon) : [lat, lon];
  }
  /* GCJ-02 → WGS-84: invert the forward formula by fixed-point iteration (error < 1 mm). */
  function gcj02ToWgs84(lat, lon) {
    var wLat = lat, wLon = lon;
    for (var i = 0; i < 12; i++) {
      var g = GW.wgs84ToGcj02(wLat, wLon), dLat = g[0] - lat, dLon = g[1] - lon;
      wLat -= dLat; wLon -= dLon;
      if (Math.abs(dLat) < 1e-10 && Math.abs(dLon) < 1e-10) break;
    }
    return [wLat, wLon];
  }
  /* A point on the drawn map back to WGS-84 [lat, lon]. */
  function unll(latlng) {
    return gcj ? gcj02ToWgs84(latlng.lat, latlng.lng) : [latlng.lat, latlng.lng];
  }
  function coordsToLatLng(coords) {
    var p = ll(coords[1], coords[0]);
    return L.latLng(p[0], p[1]);
  }
  var mapEl = document.getElementById("map");
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.5, minZoom: 6, maxZoom: 18 })
    .setView(ll(36.0611, 103.8343), 9);
  var renderer = L.canvas({ padding: 0.5, tolerance: 3 });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: "" }).addTo(map);
    mapEl.classList.add("has-tiles");
  }
  var reportLayer = L.layerGroup().addTo(map);
  var incidentLayer = L.layerGroup().addTo(map);
  var teamLayer = L.layerGroup().addTo(map);
  var teamBaseLayer = L.layerGroup();   // volunteer teams idle at base: only when close

  /* Which areas to draw at a zoom: the base (county, township) and the detail (village, cell). */
  function tolerance(z) { return z <= 10 ? 0.002 : z <= 12 ? 0.0008 : z < 14 ? 0.0003 : 0.0001; }
  var SLOTS = ["county", "township", "detail"];   // bottom of the stack last
  function slotSpec(slot, zoom) {
    var z = Math.floor(zoom), tol = tolerance(z);
    if (slot === "county") return { level: "county", tolerance: tol, step: 0 };
    if (slot === "township") return z >= 11 ? { level: "township", tolerance: tol, step: 0.1 } : null;
    if (z >= 14) return { level: "cell", tolerance: tol, step: 0.02 };
    if (z >= 13) return { level: "village", tolerance: tol, step: 0.05 };
    return null;
  }
  var STYLE = {
    county: { color: "#0b3d91", weight: 2.5, opacity: 0.9, fill: true, fillColor: "#0b3d91", fillOpacity: 0.04 },
    township: { color: "#1e5bb8", weight: 1.3, opacity: 0.8, fill: false, dashArray: "6 4" },
    village: { color: "#546e7a", weight: 0.8, opacity: 0.7, fill: true, fillColor: "#90a4ae", fillOpacity: 0.05 }
  };
  var slots = {};
  SLOTS.forEach(function (name) {
    slots[name] = { layer: null, labels: null, level: null, key: null, box: null, pending: null, abort: null };
  });
  var areaCache = new Map();       // level|tolerance|bbox → FeatureCollection (most recent last)
  var AREA_CACHE_MAX = 24;

  /* The view in WGS-84 [west, south, east, north], padded by a fraction of its size. */
  function viewBox(pad) {
    var b = map.getBounds().pad(pad || 0);
    var sw = unll(b.getSouthWest()), ne = unll(b.getNorthEast());
    return [sw[1], sw[0], ne[1], ne[0]];
  }
  function roundBox(box, step) {
    var f = function (v, up) { return Number(((up ? Math.ceil : Math.floor)(v / step) * step).toFixed(4)); };
    return [f(box[0], false), f(box[1], false), f(box[2], true), f(box[3], true)];
  }
  function covers(outer, inner) {
    return !!outer && outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
  }

  /* GET /api/areas through the browser's HTTP cache (ETag), not the no-store api() helper. */
  function fetchJson(url, signal) {
    return fetch(url, {
      headers: { "Authorization": "Bearer " + cfg.token, "Accept": "application/geo+json, application/json" },
      credentials: "same-origin", signal: signal
    }).then(function (response) {
      if (!response.ok) return Promise.reject({ status: response.status });
      return response.json();
    });
  }
  function getAreas(cacheKey, url, signal) {
    var hit = areaCache.get(cacheKey);
    if (hit) {
      areaCache.delete(cacheKey);
      areaCache.set(cacheKey, hit);
      return Promise.resolve(hit);
    }
    return fetchJson(url, signal).then(function (fc) {
      areaCache.set(cacheKey, fc);
      while (areaCache.size > AREA_CACHE_MAX) areaCache.delete(areaCache.keys().next().value);
      return fc;
    });
  }

  /* Hooks for scripts, tests and the benchmark: a counter and attributes set once drawn. */
  var drawCount = 0;
  window.__gwMapReady = 0;
  window.__gwMapDraws = [];
  function markDrawn(slot, level, count) {
    // The canvas paints on the next animation frame: count the layer drawn after it.
    requestAnimationFrame(function () {
      drawCount += 1;
      window.__gwMapReady = drawCount;
      window.__gwMapDraws.push({ slot: slot, level: level, count: count, t: performance.now() });
      if (window.__gwMapDraws.length > 200) window.__gwMapDraws.shift();
      mapEl.setAttribute("data-map-ready", String(drawCount));
      mapEl.setAttribute("data-layers", SLOTS.map(function (s) { return slots[s].layer ? slots[s].level : ""; })
        .filter(Boolean).join(" "));
      mapEl.setAttribute("data-cells", String(slots.detail.level === "cell" && slots.detail.layer ? count : 0));
    });
  }

  /* Areas below, live markers on top: bring the area layers to the back, bottom one last. */
  function restack() {
    SLOTS.forEach(function (name) { if (slots[name].layer) slots[name].layer.bringToBack(); });
  }
  function clearSlot(slot) {
    var s = slots[slot];
    if (s.abort) { s.abort.abort(); s.abort = null; }
    s.pending = null;
    if (s.layer) { map.removeLayer(s.layer); s.layer = null; }
    if (s.labels) { map.removeLayer(s.labels); s.labels = null; }
    s.key = null; s.box = null; s.level = null;
  }

  function areaLabel(level, name) {
    return L.tooltip({ permanent: true, direction: "center", className: "area-label " + level + "-label",
      opacity: 0.95, interactive: false }).setContent(textNode(name));
  }

  function drawSlot(slot, spec, box, fc) {
    var s = slots[slot];
    var old = s.layer, oldLabels = s.labels;
    var isCell = spec.level === "cell";
    var layer = L.geoJSON(fc, {
      renderer: renderer, coordsToLatLng: coordsToLatLng,
      interactive: slot === "detail",
      style: isCell ? function (feature) { return cellStyle(feature.properties.code); } : STYLE[spec.level]
    });
    if (slot === "detail") {
      layer.bindTooltip(function (target) { return areaTooltip(target.feature.properties); }, { sticky: true });
    }
    var labels = null;
    if (slot !== "detail") {
      labels = L.layerGroup();
      layer.eachLayer(function (part) {
        labels.addLayer(areaLabel(spec.level, part.feature.properties.name).setLatLng(part.getBounds().getCenter()));
      });
    }
    layer.addTo(map);
    if (labels) labels.addTo(map);
    if (old) map.removeLayer(old);
    if (oldLabels) map.removeLayer(oldLabels);
    s.layer = layer; s.labels = labels; s.level = spec.level; s.box = box;
    s.key = spec.level + "|" + spec.tolerance;
    restack();
    markDrawn(slot, spec.level, fc.features ? fc.features.length : 0);
    if (isCell) loadCellStatus(true);
  }

  function updateSlot(slot) {
    var s = slots[slot], spec = slotSpec(slot, map.getZoom());
    if (!spec) { clearSlot(slot); return; }
    var key = spec.level + "|" + spec.tolerance;
    var view = viewBox(0);
    // The view already has what it needs: nothing to fetch.
    if (s.layer && s.key === key && (!spec.step || covers(s.box, view))) return;
    var box = spec.step ? roundBox(viewBox(0.5), spec.step) : null;
    var cacheKey = key + "|" + (box ? box.join(",") : "all");
    if (s.pending === cacheKey) return;          // the same request is on its way
    if (s.abort) s.abort.abort();                // a stale request for a view we left
    var controller = window.AbortController ? new AbortController() : null;
    s.abort = controller; s.pending = cacheKey;
    var url = "/api/areas?level=" + spec.level + "&tolerance=" + spec.tolerance + (box ? "&bbox=" + box.join(",") : "");
    getAreas(cacheKey, url, controller ? controller.signal : undefined).then(function (fc) {
      if (s.pending !== cacheKey) return;         // overtaken by a newer view
      s.pending = null; s.abort = null;
      drawSlot(slot, spec, box, fc);
    }).catch(function (err) {
      if (s.pending === cacheKey) { s.pending = null; s.abort = null; }
      if (err && err.name === "AbortError") return;
      // Offline or refused: the queue works without outlines; the next move retries.
    });
  }
  var firstFit = true;
  function updateAreas() {
    SLOTS.forEach(updateSlot);
    if (Math.floor(map.getZoom()) >= 13) teamBaseLayer.addTo(map); else map.removeLayer(teamBaseLayer);
  }
  var areaTimer = null;
  map.on("moveend", function () { clearTimeout(areaTimer); areaTimer = setTimeout(updateAreas, 120); });

  /* The operator's own area at first: their county, or the whole city. */
  getAreas("county|0.002|all", "/api/areas?level=county&tolerance=0.002").then(function (fc) {
    if (!firstFit) return;
    firstFit = false;
    var mine = null, all = L.geoJSON(fc, { coordsToLatLng: coordsToLatLng });
    all.eachLayer(function (layer) {
      var code = layer.feature.properties.code;
      if (cfg.area_code && cfg.area_code !== code && cfg.area_code.indexOf(code) === 0) mine = layer;
      if (cfg.area_code === code) mine = layer;
    });
    var bounds = (mine || all).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10], animate: false });
    updateAreas();
  }).catch(function () { updateAreas(); });

  /* ---- cells: tinted by their open risk, uncovered ones hatched ---- */
  var cellStatus = new Map();      // code → {risk, open, coverage}
  var statusMissingUntil = 0;      // /api/areas/status not there (yet): retry later
  var statusAbort = null;
  var hatch = (function () {
    var tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    var g = tile.getContext("2d");
    if (!g) return "#6a1b9a";
    g.strokeStyle = "#6a1b9a";
    g.lineWidth = 1.5;
    g.beginPath();
    g.moveTo(0, 8); g.lineTo(8, 0);
    g.moveTo(-2, 2); g.lineTo(2, -2);
    g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    return g.createPattern(tile, "repeat") || "#6a1b9a";
  })();
  function cellStyle(code) {
    var st = { color: "#607d8b", weight: 0.6, opacity: 0.75, fill: true, fillColor: "#90a4ae", fillOpacity: 0.03, dashArray: null };
    var s = cellStatus.get(code);
    if (!s) return st;
    if (s.risk && RISK_COLOUR[s.risk]) { st.fillColor = RISK_COLOUR[s.risk]; st.fillOpacity = 0.45; }
    if (s.coverage === "uncovered") {
      if (!(s.risk && RISK_COLOUR[s.risk])) { st.fillColor = hatch; st.fillOpacity = 0.55; }
      st.color = "#6a1b9a"; st.weight = 1.4; st.opacity = 0.95; st.dashArray = "4 3";
    } else if (s.coverage === "silent") {
      st.color = "#8d6e63"; st.weight = 0.9; st.opacity = 0.85;
    }
    return st;
  }
  function areaTooltip(p) {
    var parts = [p.name + " · " + p.code];
    var s = p.level === "cell" ? cellStatus.get(p.code) : null;
    if (s) {
      if (s.risk) parts.push(riskLabel(s.risk));
      if (s.open) parts.push(GW.fmt(t.open_n, { n: s.open }));
      if (s.coverage && t["coverage_" + s.coverage]) parts.push(t["coverage_" + s.coverage]);
    }
    return textNode(parts.join(" · "));
  }
  function restyleCells() {
    var s = slots.detail;
    if (!s.layer || s.level !== "cell") return;
    s.layer.eachLayer(function (part) { part.setStyle(cellStyle(part.feature.properties.code)); });
  }
  function loadCellStatus(newView) {
    var s = slots.detail;
    if (!s.layer || s.level !== "cell" || !s.box) return;
    if (Date.now() < statusMissingUntil) return;
    if (!newView && statusAbort) return;
    if (statusAbort) statusAbort.abort();
    var box = s.box.slice(), controller = window.AbortController ? new AbortController() : null;
    statusAbort = controller;
    GW.api(cfg.token, "/api/areas/status?level=cell&bbox=" + box.join(","),
      { signal: controller ? controller.signal : undefined }).then(function (answer) {
      if (statusAbort !== controller) return;
      statusAbort = null;
      cellStatus = new Map();
      var cells = (answer && answer.cells) || {};
      Object.keys(cells).forEach(function (code) { if (cells[code]) cellStatus.set(code, cells[code]); });
      restyleCells();
      mapEl.setAttribute("data-cell-status", "loaded");
    }).catch(function (err) {
      if (statusAbort === controller) statusAbort = null;
      if (err && err.status === 404) {
        // The status endpoint is not deployed here: plain cells, ask again in a minute.
        statusMissingUntil = Date.now() + 60000;
        mapEl.setAttribute("data-cell-status", "unavailable");
      }
    });
  }
  var statusTimer = null;
  function refreshCellStatusSoon() {
    if (slots.detail.level !== "cell") return;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(function () { loadCellStatus(false); }, 1500);
  }

  /* ---- reports: a circle per report coloured by risk, a counted badge per cluster ---- */
  function placeMarker(r) {
    dropMarker(r.id);
    if (typeof r.lat !== "number" || typeof r.lon !== "number") return;
    var colour = RISK_COLOUR[r.risk_level] || "#757575";
    var marker;
    var label = cat(r.category) + " · " + riskLabel(r.risk_level || "") + " · #" + r.id;
    if (r.cluster_size > 1) {
      marker = L.marker(ll(r.lat, r.lon), {
        keyboard: false, riseOnHover: true, zIndexOffset: 1000 - rank(r) * 100,
        icon: L.divIcon({
          className: "report-cluster risk-" + (r.risk_level || "none"), iconSize: [30, 30],
          html: el("span", { "data-map-report": r.id, text: String(r.cluster_size) })
        })
      });
      label += " · " + GW.fmt(t.reports_n, { n: r.cluster_size });
    } else {
      marker = L.circleMarker(ll(r.lat, r.lon), {
        renderer: renderer, radius: r.risk_level === "red" ? 10 : 8, color: "#fff", weight: 2,
        fillColor: colour, fillOpacity: 0.95
      });
    }
    marker.gwRisk = r.risk_level || null;
    marker.gwColour = colour;
    marker.bindTooltip(textNode(label));
    marker.on("click", function () { focusReport(r.id, false); });
    marker.addTo(reportLayer);
    markers.set(r.id, marker);
    // The most dangerous on top where reports overlap.
    if (r.risk_level === "red" && marker.bringToFront) marker.bringToFront();
  }
  function dropMarker(id) {
    var m = markers.get(id);
    if (m) { reportLayer.removeLayer(m); markers.delete(id); }
  }

  /* ---- incidents: a square badge with the status ---- */
  var incidentMarkers = new Map();
  function placeIncident(inc) {
    var old = incidentMarkers.get(inc.id);
    if (old) { incidentLayer.removeLayer(old); incidentMarkers.delete(inc.id); }
    if (INCIDENT_DONE[inc.status] || typeof inc.lat !== "number" || typeof inc.lon !== "number") return;
    var statusText = (codes.incident_status && codes.incident_status[inc.status]) || inc.status;
    var m = L.marker(ll(inc.lat, inc.lon), {
      keyboard: false, zIndexOffset: 2000,
      icon: L.divIcon({
        className: "incident-marker status-" + inc.status + " risk-" + (inc.risk_level || "none"),
        iconSize: null, iconAnchor: [12, 12],
        html: el("span", { "data-map-incident": inc.id, "data-map-status": inc.status }, [
          el("b", { text: "!" }), el("span", { class: "incident-marker-status", text: statusText })
        ])
      })
    });
    m.bindTooltip(textNode("#" + inc.id + " " + title(inc) + " · " + statusText), { direction: "top", offset: [0, -12] });
    m.on("click", function () { selectIncident(inc.id); });
    m.addTo(incidentLayer);
    incidentMarkers.set(inc.id, m);
  }

  /* ---- public warnings (CAP) received: their areas, coloured by severity, in a pane of
   * their own under the markers (SVG: the markers' canvas stays theirs alone), and a list.
   * An alert replaced by an Update or ended by a Cancel leaves the map; expired ones fade. */
  var CAP_COLOUR = { Extreme: "#c62828", Severe: "#e65100", Moderate: "#f9c80e", Minor: "#1565c0" };
  var CAP_RISK = { Extreme: "red", Severe: "orange", Moderate: "yellow", Minor: "blue" };
  var CAP_ENDS = { Cancel: 1, Ack: 1, Error: 1 };
  map.createPane("capPane");
  map.getPane("capPane").style.zIndex = 350;
  var capRenderer = L.svg({ pane: "capPane", padding: 0.5 });
  var capLayer = L.layerGroup().addTo(map);
  var capAlerts = new Map();      // id → GeoJSON Feature (properties as GET /api/cap/alerts)
  var capShapes = new Map();      // id → layer
  var capList = document.getElementById("cap-alerts");
  var capPanel = document.getElementById("cap-panel");
  // Below the incident list, never crowding out the incident's detail.
  capPanel.style.flex = "0 1 auto";
  capPanel.style.maxHeight = "28vh";

  function capOnMap(p) { return !p.superseded_by && !CAP_ENDS[p.msg_type]; }
  /* Times come as Beijing time (+08:00): shown with the year, alerts can be old. */
  function capTime(iso) { return iso ? String(iso).slice(0, 16).replace("T", " ") : ""; }
  function capLabel(p) {
    var parts = [p.headline || p.event || p.identifier,
      (t.cap_severity && t.cap_severity[p.severity || "Unknown"]) || p.severity || "",
      GW.fmt(t.cap_sender, { sender: p.sender })];
    if (p.expires) parts.push(p.expired ? t.cap_expired + " " + capTime(p.expires) : GW.fmt(t.cap_expires, { time: capTime(p.expires) }));
    if (p.status && p.status !== "Actual") parts.push(GW.fmt(t.cap_status, { status: p.status }));
    return parts.filter(Boolean).join(" · ");
  }
  function dropCap(id) {
    var old = capShapes.get(id);
    if (old) { capLayer.removeLayer(old); capShapes.delete(id); }
  }
  function placeCap(f) {
    dropCap(f.id);
    var p = f.properties;
    if (!f.geometry || !capOnMap(p)) return;
    var colour = CAP_COLOUR[p.severity] || "#757575", faded = !!p.expired;
    var look = {
      renderer: capRenderer, pane: "capPane", className: "cap-area cap-area-" + f.id, interactive: false,
      color: colour, weight: faded ? 1.5 : 2.5, opacity: faded ? 0.55 : 0.95,
      dashArray: faded ? "6 5" : null, fill: true, fillColor: colour, fillOpacity: faded ? 0.05 : 0.15
    };
    // The area is drawn, not clickable (the reports above it are); its badge is.
    var area = L.geoJSON(f.geometry, {
      coordsToLatLng: coordsToLatLng, renderer: capRenderer, pane: "capPane", interactive: false,
      style: function () { return look; },
      pointToLayer: function (_, latlng) { return L.circleMarker(latlng, Object.assign({ radius: 9 }, look)); }
    });
    var badgeText = el("span", { "data-map-cap-alert": f.id, "data-severity": p.severity || "Unknown", text: "!" });
    Object.assign(badgeText.style, {
      display: "block", width: "18px", height: "18px", lineHeight: "18px", textAlign: "center",
      fontWeight: "700", borderRadius: "50%", border: "2px solid #fff", boxShadow: "0 1px 3px rgba(0,0,0,.45)",
      background: colour, color: p.severity === "Moderate" ? "#222" : "#fff", opacity: faded ? "0.6" : "1"
    });
    var badge = L.marker(area.getBounds().getCenter(), {
      keyboard: false, zIndexOffset: 500,
      icon: L.divIcon({ className: "cap-marker", iconSize: [22, 22], html: badgeText })
    });
    badge.bindTooltip(textNode(capLabel(p)), { direction: "top", offset: [0, -10] });
    badge.on("click", function () { focusCap(f.id, false); });
    var layer = L.featureGroup([area, badge]).addTo(capLayer);
    layer.gwArea = area;
    layer.gwBadge = badge;
    capShapes.set(f.id, layer);
  }
  function capItem(id) { return capList.querySelector('[data-cap-alert-id="' + id + '"]'); }
  function capNode(f) {
    var p = f.properties, risk = CAP_RISK[p.severity];
    return el("li", {
      class: "incident cap-alert", "data-cap-alert-id": f.id, "data-severity": p.severity || "Unknown",
      "data-active": p.active ? "1" : "0", "data-on-map": f.geometry ? "1" : "0", tabindex: "0"
    }, [
      el("span", { class: "incident-title", text: p.headline || p.event || p.identifier }),
      el("span", { class: "risk " + (risk ? "risk-" + risk : "risk-none"),
        text: (t.cap_severity && t.cap_severity[p.severity || "Unknown"]) || p.severity || "" }),
      el("span", { class: "muted", text: GW.fmt(t.cap_sender, { sender: p.sender }) }),
      p.expires ? el("span", { class: "code", text: p.expired ? t.cap_expired + " " + capTime(p.expires)
        : GW.fmt(t.cap_expires, { time: capTime(p.expires) }) }) : null,
      f.geometry ? null : el("span", { class: "muted", text: t.cap_no_area })
    ]);
  }
  function upsertCap(f) {
    if (!f || typeof f.id !== "number" || !f.properties) return;
    capAlerts.set(f.id, f);
    var old = capItem(f.id);
    if (!capOnMap(f.properties)) {
      if (old) capList.removeChild(old);
      dropCap(f.id);
      return;
    }
    var node = capNode(f);
    if (old) capList.replaceChild(node, old); else capList.insertBefore(node, capList.firstChild);
    placeCap(f);
  }
  function endCap(id) {
    var f = capAlerts.get(id);
    if (f) upsertCap(Object.assign({}, f, { properties: Object.assign({}, f.properties, { superseded_by: -1, active: false }) }));
  }
  function renderCapCount() {
    var n = capList.querySelectorAll("[data-cap-alert-id]").length;
    document.getElementById("cap-count").textContent = "(" + n + ")";
    document.getElementById("cap-empty").hidden = n > 0;
  }
  function loadCapAlerts() {
    return GW.api(cfg.token, "/api/cap/alerts?direction=in&limit=200").then(function (fc) {
      var seen = new Set();
      ((fc && fc.features) || []).slice().reverse().forEach(function (f) { seen.add(f.id); upsertCap(f); });
      Array.from(capAlerts.keys()).forEach(function (id) { if (!seen.has(id)) endCap(id); });
      renderCapCount();
      mapEl.setAttribute("data-cap-alerts", String(capShapes.size));
    }).catch(function () { /* shown again on reconnect */ });
  }
  function focusCap(id, fly) {
    capList.querySelectorAll(".is-focused").forEach(function (n) { n.classList.remove("is-focused"); });
    var item = capItem(id), layer = capShapes.get(id);
    if (item) { item.classList.add("is-focused"); if (!fly) item.scrollIntoView({ block: "nearest" }); }
    if (fly && layer) {
      var bounds = layer.gwArea.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 12, animate: false });
      layer.gwBadge.openTooltip();
    }
  }
  function pickCap(event) {
    var item = event.target.closest("[data-cap-alert-id]");
    if (item) focusCap(Number(item.getAttribute("data-cap-alert-id")), true);
  }
  capList.addEventListener("click", pickCap);
  capList.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pickCap(event); }
  });

  /* ---- teams: status colour, position age; hollow at base when no position is known ---- */
  var TEAM_COLOUR = { available: "#2e7d32", dispatched: "#6a1b9a", en_route: "#ef6c00",
    on_scene: "#c62828", returning: "#0277bd", off_duty: "#9e9e9e" };
  var STALE_MS = 15 * 60 * 1000;
  var teamsById = new Map();
  function ageText(ms) {
    var min = Math.floor(ms / 60000);
    if (min < 1) return t.just_now;
    if (min < 120) return GW.fmt(t.min_ago, { min: min });
    return GW.fmt(t.h_ago, { h: Math.floor(min / 60) });
  }
  function teamLook(team) {
    var pos = team.position && typeof team.position.lat === "number" && typeof team.position.lon === "number"
      ? team.position : null;
    var base = team.base && typeof team.base.lat === "number" && typeof team.base.lon === "number" ? team.base : null;
    var at = pos || base;
    if (!at) return null;
    var age = pos && pos.at ? Date.now() - new Date(pos.at).getTime() : null;
    var stale = age !== null && age > STALE_MS;
    var colour = TEAM_COLOUR[team.status] || "#455a64";
    var where = pos ? (age === null ? t.live : ageText(Math.max(0, age))) : t.at_base;
    return {
      latlng: ll(at.lat, at.lon), live: !!pos, stale: stale,
      style: pos
        ? { radius: 7, color: stale ? "#616161" : "#fff", weight: 2, fillColor: stale ? "#9e9e9e" : colour, fillOpacity: stale ? 0.7 : 1 }
        : { radius: 5, color: colour, weight: 2, fillColor: "#fff", fillOpacity: 0.9 },
      text: team.name + " · " + ((codes.team_status && codes.team_status[team.status]) || team.status) + " · " + where,
      // Thousands of village teams idle at base: drawn only when zoomed in close; the rescue
      // squads and every team with a position or a job always.
      group: pos || team.kind === "professional_rescue" || team.status !== "available" ? teamLayer : teamBaseLayer
    };
  }
  function showTeam(team) {
    if (!team || typeof team.id !== "number") return;
    teamsById.set(team.id, team);
    var look = teamLook(team), m = teamMarkers.get(team.id);
    if (!look) {
      if (m) { m.gwGroup.removeLayer(m); teamMarkers.delete(team.id); }
      return;
    }
    if (m && m.gwGroup !== look.group) { m.gwGroup.removeLayer(m); m = null; teamMarkers.delete(team.id); }
    if (!m) {
      m = L.circleMarker(look.latlng, Object.assign({ renderer: renderer }, look.style));
      m.bindTooltip(textNode(look.text));
      m.gwGroup = look.group;
      m.addTo(look.group);
      teamMarkers.set(team.id, m);
    } else {
      m.setLatLng(look.latlng);
      m.setStyle(look.style);
      m.setTooltipContent(textNode(look.text));
    }
    m.gwLive = look.live; m.gwStale = look.stale; m.gwStatus = team.status;
    if (look.live) m.bringToFront();
  }
  function loadTeams() {
    return GW.api(cfg.token, "/api/teams").then(function (list) {
      var seen = new Set();
      (list || []).forEach(function (team) { seen.add(team.id); showTeam(team); });
      Array.from(teamMarkers.keys()).forEach(function (id) {
        if (!seen.has(id)) { var m = teamMarkers.get(id); m.gwGroup.removeLayer(m); teamMarkers.delete(id); teamsById.delete(id); }
      });
    }).catch(function () { /* loaded again on reconnect */ });
  }
  // Position ages move on: refresh the teams that report a position.
  setInterval(function () {
    teamsById.forEach(function (team) { if (team.position) showTeam(team); });
  }, 30000);

  /* A compact legend in the corner (collapsible). */
  var Legend = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd: function () {
      function row(swatchClass, text, colour) {
        var swatch = el("span", { class: "legend-swatch " + swatchClass });
        if (colour) swatch.style.setProperty("--swatch", colour);
        return el("li", {}, [swatch, el("span", { text: text })]);
      }
      var rows = ["red", "orange", "yellow", "blue"].map(function (level) {
        return row("legend-risk", riskLabel(level), RISK_COLOUR[level]);
      });
      rows.push(row("legend-uncovered", t.legend_uncovered));
      rows.push(row("legend-silent", t.legend_silent));
      rows.push(row("legend-incident", t.legend_incident));
      rows.push(row("legend-risk legend-cap", t.legend_cap, CAP_COLOUR.Severe));
      rows.push(row("legend-team", t.legend_team, TEAM_COLOUR.available));
      rows.push(row("legend-team-base", t.legend_team_base, TEAM_COLOUR.available));
      rows.push(row("legend-team legend-stale", t.legend_stale));
      var box = el("details", { class: "map-legend", open: true }, [
        el("summary", { text: t.legend }), el("ul", {}, rows)
      ]);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    }
  });
  new Legend().addTo(map);

  window.gwMap = {
    map: map, renderer: renderer, ll: ll, unll: unll, gcj02ToWgs84: gcj02ToWgs84,
    reportMarker: function (id) { return markers.get(id) || null; },
    teamMarker: function (id) { return teamMarkers.get(id) || null; },
    incidentMarker: function (id) { return incidentMarkers.get(id) || null; },
    capAlert: function (id) { return capShapes.get(id) || null; },
    cellStatus: function (code) { return cellStatus.get(code) || null; },
    slots: function () {
      var out = {};
      SLOTS.forEach(function (name) { out[name] = slots[name].layer ? slots[name].level : null; });
      return out;
    }
  };

  /* ---------------- triage queue ---------------- */
  function rank(r) {
    // Untriaged first (unknown may be red), then red > orange > yellow > blue.
    return r.risk_level ? (RISK_RANK[r.risk_level] !== undefined ? RISK_RANK[r.risk_level] : 4) : -1;
  }
  function compare(a, b) {
    return rank(a) - rank(b) || (b.risk_score || 0) - (a.risk_score || 0) ||
      String(a.received_at).localeCompare(String(b.received_at)) || a.id - b.id;
  }
  function claimedByOther(r) {
    return r.claimed_by && r.claimed_by !== cfg.user_id && r.claimed_until &&
      new Date(r.claimed_until).getTime() > Date.now();
  }
  function dueText(iso) {
    var left = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    var abs = Math.abs(left), mm = Math.floor(abs / 60), ss = abs % 60;
    var clock = mm + ":" + (ss < 10 ? "0" : "") + ss;
    return { text: GW.fmt(left >= 0 ? t.review_in : t.review_overdue, { time: clock }), late: left < 0 };
  }
  function tickDeadlines() {
    queue.querySelectorAll("[data-due]").forEach(function (node) {
      var due = dueText(node.getAttribute("data-due"));
      node.textContent = due.text;
      node.classList.toggle("overdue", due.late);
    });
  }
  setInterval(tickDeadlines, 1000);

  function reportNode(r, withActions) {
    var attrs = { class: "report" + (claimedByOther(r) ? " is-claimed" : "") + (r.escalated_at ? " is-escalated" : ""),
      "data-report-id": r.id, "data-risk-level": r.risk_level || "", "data-status": r.status };
    var node = el("li", attrs);
    var head = el("div", { class: "report-head" });
    if (withActions) {
      var box = el("input", { type: "checkbox", "aria-label": t.select + " #" + r.id, "data-select": r.id });
      box.checked = selected.has(r.id);
      head.appendChild(box);
    }
    head.appendChild(riskBadge(r.risk_level));
    head.appendChild(el("span", { class: "report-cat", text: cat(r.category) }));
    if (r.severity) head.appendChild(el("span", { class: "muted", text: t.severity + " " + r.severity }));
    if (r.cluster_size > 1) head.appendChild(el("span", { class: "cluster-count", "data-cluster-size": r.cluster_size, text: GW.fmt(t.reports_n, { n: r.cluster_size }) }));
    head.appendChild(el("span", { class: "code", text: "#" + r.id }));
    node.appendChild(head);
    if (r.text) node.appendChild(el("p", { class: "report-text", text: r.text }));
    if (r.redacted) node.appendChild(el("p", { class: "report-text muted", "data-redacted": "1", text: t.redacted }));
    var meta = el("div", { class: "report-meta" }, [
      el("span", { text: t.cell + ": " + (r.cell_code || t.no_cell) }),
      el("span", { text: t.received + " " + GW.formatTime(r.received_at, cfg.lang, true) })
    ]);
    if (typeof r.risk_score === "number") meta.appendChild(el("span", { text: t.score + " " + r.risk_score }));
    if (r.flags && r.flags.length) meta.appendChild(el("span", { class: "warn", text: t.flags + ": " + r.flags.join(", ") }));
    if (r.review_due_at) {
      var due = dueText(r.review_due_at);
      meta.appendChild(el("span", { class: "due" + (due.late ? " overdue" : ""), "data-due": r.review_due_at, text: due.text }));
    }
    if (r.escalated_at) meta.appendChild(el("span", { class: "warn", text: t.escalated }));
    if (claimedByOther(r)) meta.appendChild(el("span", { class: "claimed", text: t.claimed_other }));
    node.appendChild(meta);
    if (r.reasons && r.reasons.length) {
      node.appendChild(el("ul", { class: "reasons" }, r.reasons.map(function (reason) {
        return el("li", { text: reasonText(reason) });
      })));
    }
    if (withActions) {
      node.appendChild(el("div", { class: "report-actions" }, [
        el("button", { type: "button", class: "btn btn-small btn-ok", "data-action": "verify", text: t.verify }),
        el("button", { type: "button", class: "btn btn-small btn-danger", "data-action": "dismiss", text: t.dismiss }),
        el("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "incident", text: t.create_incident }),
        el("button", { type: "button", class: "btn btn-small btn-quiet", "data-action": "merge", text: t.merge })
      ]));
      if (r.id === mergeFrom) node.classList.add("is-merge-source");
    }
    return node;
  }

  function queueItem(id) { return queue.querySelector('[data-report-id="' + id + '"]'); }

  function renderQueue() {
    var sorted = Array.from(reports.values()).sort(compare);
    sorted.forEach(function (r) { queue.appendChild(queueItem(r.id) || reportNode(r, true)); });
    queueEmpty.hidden = reports.size > 0;
    queueCount.textContent = "(" + reports.size + ")";
    createSelected.disabled = selected.size === 0;
  }

  function upsertReport(r, alertIfRed) {
    if (!r || typeof r.id !== "number") return;
    // A cluster member is not an entry of its own: its head stands for it.
    if (!QUEUE_STATUSES[r.status] || r.cluster_id) { removeReport(r.id); return; }
    var before = reports.get(r.id);
    if (before && before.risk_level && !r.risk_level) {
      // report:new can arrive after report:triaged (they come from different processes).
      r = Object.assign({}, r, {
        risk_level: before.risk_level, risk_score: before.risk_score, reasons: before.reasons,
        status: before.status
      });
    }
    reports.set(r.id, r);
    var old = queueItem(r.id);
    var node = reportNode(r, true);
    if (old) queue.replaceChild(node, old); else queue.appendChild(node);
    placeMarker(r);
    if (alertIfRed && r.risk_level === "red" && (!before || before.risk_level !== "red")) redAlert(r);
  }
  function removeReport(id) {
    if (id === mergeFrom) stopMerge("");
    reports.delete(id);
    selected.delete(id);
    var node = queueItem(id);
    if (node) node.remove();
    dropMarker(id);
  }

  function loadTriage() {
    return GW.api(cfg.token, "/api/triage").then(function (list) {
      var seen = new Set();
      list.forEach(function (r) { seen.add(r.id); upsertReport(r, false); });
      Array.from(reports.keys()).forEach(function (id) { if (!seen.has(id)) removeReport(id); });
      renderQueue();
    }).catch(function (err) { say(queueMsg, GW.fmt(t.load_failed, { message: errorText(err) }), true); });
  }

  function focusReport(id, pan) {
    var node = queueItem(id);
    queue.querySelectorAll(".is-focused").forEach(function (n) { n.classList.remove("is-focused"); });
    if (node) {
      node.classList.add("is-focused");
      node.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    var r = reports.get(id);
    if (pan && r && typeof r.lat === "number") map.setView(ll(r.lat, r.lon), Math.max(map.getZoom(), 14));
  }

  queue.addEventListener("change", function (event) {
    var box = event.target.closest("[data-select]");
    if (!box) return;
    var id = Number(box.getAttribute("data-select"));
    if (box.checked) selected.add(id); else selected.delete(id);
    createSelected.disabled = selected.size === 0;
  });
  /* Merge: the entry's button starts a "pick the target" mode; a click on another entry ends it. */
  var mergeFrom = null;
  function startMerge(id) {
    mergeFrom = id;
    queue.setAttribute("data-merge-from", String(id));
    queue.classList.add("is-merging");
    var node = queueItem(id);
    if (node) node.classList.add("is-merge-source");
    say(queueMsg, GW.fmt(t.merge_pick, { id: id }), false);
  }
  function stopMerge(message) {
    if (mergeFrom === null) return;
    var node = queueItem(mergeFrom);
    if (node) node.classList.remove("is-merge-source");
    mergeFrom = null;
    queue.removeAttribute("data-merge-from");
    queue.classList.remove("is-merging");
    if (message !== undefined) say(queueMsg, message, false);
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && mergeFrom !== null) stopMerge(t.merge_cancelled);
  });
  function mergeInto(id, into) {
    stopMerge();
    socket.emit("report:review", { report_id: id, action: "merge", into_report_id: into }, function (ack) {
      if (ack && ack.ok) {
        if (ack.report) upsertReport(ack.report, false); else removeReport(id);
        renderQueue();
        say(queueMsg, GW.fmt(t.merged_into, { id: id, into: into }), false);
      } else {
        say(queueMsg, "#" + id + ": " + errorText(ack), true);
      }
    });
  }
  queue.addEventListener("click", function (event) {
    var item = event.target.closest("[data-report-id]");
    if (!item) return;
    var id = Number(item.getAttribute("data-report-id"));
    if (mergeFrom !== null) {
      event.preventDefault();
      if (id === mergeFrom) stopMerge(t.merge_cancelled); else mergeInto(mergeFrom, id);
      return;
    }
    var button = event.target.closest("button[data-action]");
    if (!button) {
      if (!event.target.closest("input")) { focusReport(id, true); claim(id); }
      return;
    }
    var action = button.getAttribute("data-action");
    if (action === "incident") { createIncident([id]); return; }
    if (action === "merge") { startMerge(id); return; }
    var review = { report_id: id, action: action };
    if (action === "dismiss") {
      var reason = window.prompt(t.dismiss_reason, "");
      if (reason === null || !reason.trim()) return;
      review.note = reason.trim();
    }
    button.disabled = true;
    socket.emit("report:review", review, function (ack) {
      button.disabled = false;
      if (ack && ack.ok) {
        if (ack.report) upsertReport(ack.report, false); else removeReport(id);
        renderQueue();
        say(queueMsg, "#" + id + " · " + (codes.report_status[ack.report && ack.report.status] || ""), false);
      } else {
        say(queueMsg, "#" + id + ": " + errorText(ack), true);
      }
    });
  });
  function claim(id) {
    socket.emit("report:claim", { report_id: id }, function (ack) {
      if (ack && ack.ok) return;
      say(queueMsg, "#" + id + ": " + errorText(ack), true);
    });
  }
  createSelected.addEventListener("click", function () {
    if (selected.size) createIncident(Array.from(selected));
  });

  function createIncident(ids) {
    createSelected.disabled = true;
    socket.emit("incident:create", { report_ids: ids }, function (ack) {
      if (ack && ack.ok && ack.incident) {
        ids.forEach(removeReport);
        renderQueue();
        upsertIncident(ack.incident);
        renderIncidents();
        say(queueMsg, t.created + " #" + ack.incident.id, false);
        selectIncident(ack.incident.id);
      } else {
        createSelected.disabled = selected.size === 0;
        say(queueMsg, errorText(ack), true);
      }
    });
  }

  /* ---------------- red alert ---------------- */
  var alertBox = document.getElementById("red-alert");
  var alertText = document.getElementById("red-alert-text");
  var soundHint = document.getElementById("sound-hint");
  document.getElementById("red-alert-close").addEventListener("click", function () { alertBox.hidden = true; });
  function redAlert(r) {
    var text = (r.text || "").slice(0, 80);
    alertText.textContent = GW.fmt(t.red_alert, { category: cat(r.category), text: text }) + " (#" + r.id + ")";
    alertBox.hidden = false;
    // Restart the flash animation for each new red report.
    alertBox.style.animation = "none";
    void alertBox.offsetWidth;
    alertBox.style.animation = "";
    GW.beep();
    soundHint.hidden = !GW.audioBlocked();
  }
  window.addEventListener("pointerdown", function () { soundHint.hidden = true; });

  /* ---------------- incidents ---------------- */
  function incidentItem(id) { return incidentList.querySelector('[data-incident-id="' + id + '"]'); }
  function incidentNode(inc) {
    var node = el("li", {
      class: "incident", "data-incident-id": inc.id, "data-status": inc.status, role: "option",
      tabindex: "0", "aria-selected": selectedIncident === inc.id ? "true" : "false"
    }, [
      el("span", { class: "incident-title", text: title(inc) }),
      statusBadge("incident_status", inc.status),
      inc.risk_level ? riskBadge(inc.risk_level) : null,
      el("span", { class: "muted", text: cat(inc.category) }),
      el("span", { class: "code", text: "#" + inc.id + " · " + GW.formatTime(inc.created_at, cfg.lang, true) })
    ]);
    return node;
  }
  function upsertIncident(inc) {
    if (!inc || typeof inc.id !== "number") return;
    incidents.set(inc.id, inc);
    var old = incidentItem(inc.id), node = incidentNode(inc);
    if (old) incidentList.replaceChild(node, old); else incidentList.insertBefore(node, incidentList.firstChild);
    if (selectedIncident === inc.id) renderDetailHead(inc);
    placeIncident(inc);
  }
  function renderIncidents() {
    Array.from(incidents.values())
      .sort(function (a, b) { return String(b.created_at).localeCompare(String(a.created_at)) || b.id - a.id; })
      .forEach(function (inc) { incidentList.appendChild(incidentItem(inc.id) || incidentNode(inc)); });
    incidentsEmpty.hidden = incidents.size > 0;
    document.getElementById("incident-count").textContent = "(" + incidents.size + ")";
  }
  function loadIncidents() {
    return GW.api(cfg.token, "/api/incidents").then(function (list) {
      var active = new Set();
      list.forEach(function (inc) { active.add(inc.id); upsertIncident(inc); });
      // Ended while we were away: off the map (the list keeps them until reload).
      incidentMarkers.forEach(function (m, id) {
        if (!active.has(id)) { incidentLayer.removeLayer(m); incidentMarkers.delete(id); }
      });
      renderIncidents();
    }).catch(function () { /* shown again on reconnect */ });
  }

  function pick(event) {
    var item = event.target.closest("[data-incident-id]");
    if (item) selectIncident(Number(item.getAttribute("data-incident-id")));
  }
  incidentList.addEventListener("click", pick);
  incidentList.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(event); }
  });

  function renderDetailHead(inc) {
    document.getElementById("detail-title").textContent = "#" + inc.id + " " + title(inc);
    document.getElementById("recs-section").hidden = !!INCIDENT_DONE[inc.status];
    var box = document.getElementById("detail-status");
    GW.clear(box);
    box.setAttribute("data-status", inc.status);
    box.appendChild(statusBadge("incident_status", inc.status));
    if (inc.risk_level) box.appendChild(riskBadge(inc.risk_level));
    box.appendChild(el("span", { class: "muted", text: " " + cat(inc.category) + " · " + (inc.cell_code || "") }));
  }

  function selectIncident(id) {
    if (selectedIncident !== id) recLimit = 5;
    selectedIncident = id;
    incidentList.querySelectorAll("[data-incident-id]").forEach(function (n) {
      n.setAttribute("aria-selected", Number(n.getAttribute("data-incident-id")) === id ? "true" : "false");
    });
    detail.hidden = false;
    say(detailError, "", false);
    tasks = new Map();
    var inc = incidents.get(id);
    if (inc) {
      renderDetailHead(inc);
      if (typeof inc.lat === "number") map.setView(ll(inc.lat, inc.lon), Math.max(map.getZoom(), 13));
    }
    loadDetail(id);
  }

  function timelineItem(e) {
    var actions = t.actions || {};
    var label = actions[e.action] || e.action;
    var parts = [GW.formatTime(e.at, cfg.lang, false), label];
    var after = e.after || {};
    if (String(e.action).indexOf("task.") === 0 && after.team_id !== undefined && after.team_id !== null) {
      var name = null;
      tasks.forEach(function (task) { if (task.team_id === after.team_id && task.team_name) name = task.team_name; });
      parts.push(name || (t.team + " #" + after.team_id));
    }
    if (after.status && e.action === "incident.status") parts.push("→ " + (codes.incident_status[after.status] || after.status));
    parts.push("· " + (e.actor_id === null || e.actor_id === undefined ? t.system : "#" + e.actor_id));
    return el("li", { "data-action": e.action, title: e.entity, text: parts.join(" ") });
  }

  function loadDetail(id) {
    GW.api(cfg.token, "/api/incidents/" + id).then(function (full) {
      if (selectedIncident !== id) return;
      var summary = Object.assign({}, full);
      delete summary.tasks; delete summary.timeline; delete summary.reports;
      upsertIncident(summary);
      renderIncidents();
      tasks = new Map();
      (full.tasks || []).forEach(function (task) { tasks.set(task.id, task); });
      renderTasks();
      var list = document.getElementById("detail-reports");
      GW.clear(list);
      (full.reports || []).forEach(function (r) { list.appendChild(reportNode(r, false)); });
      var timeline = document.getElementById("timeline");
      GW.clear(timeline);
      (full.timeline || []).forEach(function (e) { timeline.appendChild(timelineItem(e)); });
    }).catch(function (err) { say(detailError, GW.fmt(t.load_failed, { message: errorText(err) }), true); });
    loadRecommendations(id);
  }

  var recLimit = 5;
  var recsMore = document.getElementById("recs-more");
  recsMore.addEventListener("click", function () {
    if (selectedIncident === null) return;
    recLimit = recLimit < 20 ? 20 : 50;
    loadRecommendations(selectedIncident);
  });
  function recReason(reason) {
    // "key:value" strings from the ranking; the page shows the ones an operator needs.
    var m = /^([a-z_]+):(.+)$/.exec(String(reason));
    if (!m) return String(reason);
    var key = m[1], value = m[2];
    if (key === "capability") return t.capability + ": " + (codes.capability[value] || value);
    if (key === "mobilise_s") return GW.fmt(t.mobilise, { min: Math.round(Number(value) / 60) });
    if (key === "travel_s") return GW.fmt(t.travel, { min: Math.round(Number(value) / 60) });
    if (key === "position") return codes.position[value] || value;
    if (key === "slot") return t.slot + ": " + value;
    if (key === "fairness") return t.fairness;
    return null; // terrain and the like: not worth the operator's attention
  }
  function loadRecommendations(id) {
    var box = document.getElementById("recs");
    var limit = recLimit;
    GW.api(cfg.token, "/api/incidents/" + id + "/recommendations?limit=" + limit).then(function (recs) {
      if (selectedIncident !== id) return;
      GW.clear(box);
      recsMore.hidden = recs.length < limit || limit >= 50;
      if (!recs.length) box.appendChild(el("li", { class: "muted", text: t.no_recs }));
      recs.forEach(function (rec) {
        box.appendChild(el("li", { class: "rec-row", "data-team-id": rec.team_id }, [
          el("span", { class: "rec-name", text: rec.name }),
          el("span", { class: "muted", text: codes.team_kind[rec.kind] || rec.kind }),
          el("span", { text: GW.fmt(t.distance, { km: (rec.distance_m / 1000).toFixed(1) }) }),
          el("strong", { text: GW.fmt(t.eta, { min: Math.max(1, Math.round(rec.eta_s / 60)) }) }),
          el("button", { type: "button", class: "btn btn-small btn-primary", "data-dispatch": rec.team_id, text: t.dispatch }),
          rec.reasons && rec.reasons.length ? el("span", { class: "rec-reasons", text: rec.reasons.map(recReason).filter(Boolean).join(" · ") }) : null
        ]));
      });
    }).catch(function (err) {
      if (selectedIncident !== id) return;
      GW.clear(box);
      box.appendChild(el("li", { class: "error-text", text: GW.fmt(t.load_failed, { message: errorText(err) }) }));
    });
  }

  document.getElementById("recs").addEventListener("click", function (event) {
    var button = event.target.closest("[data-dispatch]");
    if (!button || selectedIncident === null) return;
    var incidentId = selectedIncident, teamId = Number(button.getAttribute("data-dispatch"));
    button.disabled = true;
    say(detailError, "", false);
    socket.emit("incident:dispatch", { incident_id: incidentId, team_id: teamId }, function (ack) {
      if (ack && ack.ok && ack.task) {
        tasks.set(ack.task.id, ack.task);
        renderTasks();
        detail.scrollTop = 0;
        loadDetail(incidentId);
      } else {
        button.disabled = false;
        say(detailError, errorText(ack), true);
        loadRecommendations(incidentId);
      }
    });
  });

  function renderTasks() {
    var box = document.getElementById("tasks");
    GW.clear(box);
    var list = Array.from(tasks.values()).sort(function (a, b) { return a.id - b.id; });
    if (!list.length) box.appendChild(el("li", { class: "muted", text: t.no_tasks }));
    list.forEach(function (task) {
      box.appendChild(el("li", { class: "task-row", "data-task-id": task.id, "data-status": task.status }, [
        el("strong", { text: task.team_name || (t.team + " " + task.team_id) }),
        statusBadge("task_status", task.status),
        task.status === "offered" && task.ack_deadline
          ? el("span", { class: "muted", text: GW.fmt(t.deadline, { time: GW.formatTime(task.ack_deadline, cfg.lang, false) }) }) : null,
        task.decline_reason ? el("span", { class: "muted", text: task.decline_reason }) : null
      ]));
    });
  }

  var detailTimer = null;
  function refreshDetailSoon() {
    if (selectedIncident === null) return;
    clearTimeout(detailTimer);
    var id = selectedIncident;
    detailTimer = setTimeout(function () { if (selectedIncident === id) loadDetail(id); }, 600);
  }

  /* ---------------- live events ---------------- */
  var socket = GW.connectSocket("/operator", cfg.token, t, {
    connect: function (again) {
      if (!again) return;
      // Back after a dropped connection: resync what we may have missed.
      loadTriage();
      loadIncidents();
      loadTeams();
      loadCapAlerts();
      loadCellStatus(true);
      if (selectedIncident !== null) loadDetail(selectedIncident);
    }
  });
  // Broadcasts are sent at most once: one lost while Redis restarts is made good here.
  setInterval(function () {
    if (socket.connected && document.visibilityState === "visible") { loadTriage(); loadIncidents(); loadCapAlerts(); }
  }, 60000);
  socket.on("report:new", function (payload) {
    GW.asList(payload).forEach(function (p) { upsertReport(p && p.report, true); });
    renderQueue();
    refreshCellStatusSoon();
  });
  socket.on("report:triaged", function (payload) {
    GW.asList(payload).forEach(function (p) {
      if (!p) return;
      var r = reports.get(p.id);
      if (!r) {
        GW.api(cfg.token, "/api/reports/" + p.id).then(function (full) {
          upsertReport(full, true); renderQueue();
        }).catch(function () {});
        return;
      }
      var next = Object.assign({}, r, {
        risk_level: p.risk_level, risk_score: p.risk_score, reasons: p.reasons || r.reasons,
        category_hint: p.category_hint,
        cluster_id: p.cluster_id || null, cluster_size: p.cluster_size || r.cluster_size,
        status: p.incident_id ? "promoted" : (r.status === "new" ? "triaged" : r.status),
        review_due_at: p.review_due_at || r.review_due_at
      });
      upsertReport(next, true);
    });
    renderQueue();
    refreshCellStatusSoon();
  });
  socket.on("report:updated", function (payload) {
    GW.asList(payload).forEach(function (p) {
      var r = p && p.report;
      if (!r) return;
      if (QUEUE_STATUSES[r.status]) upsertReport(r, true); else removeReport(r.id);
    });
    renderQueue();
    refreshCellStatusSoon();
  });
  socket.on("report:claimed", function (payload) {
    GW.asList(payload).forEach(function (p) {
      var r = p && reports.get(p.id);
      if (r) upsertReport(Object.assign({}, r, { claimed_by: p.claimed_by, claimed_until: p.claimed_until }), false);
    });
    renderQueue();
  });
  socket.on("report:escalated", function (payload) {
    GW.asList(payload).forEach(function (p) {
      if (p && p.report) upsertReport(p.report, true);
    });
    renderQueue();
  });
  socket.on("incident:updated", function (payload) {
    GW.asList(payload).forEach(function (p) { upsertIncident(p && p.incident); });
    renderIncidents();
    refreshDetailSoon();
  });
  socket.on("task:updated", function (payload) {
    GW.asList(payload).forEach(function (p) {
      var task = p && p.task;
      if (!task || task.incident_id !== selectedIncident) return;
      tasks.set(task.id, task);
      renderTasks();
      if (ENDED_TASK[task.status] || task.status === "offered") loadRecommendations(selectedIncident);
      refreshDetailSoon();
    });
  });
  socket.on("team:updated", function (payload) {
    GW.asList(payload).forEach(function (p) { if (p && p.team) showTeam(p.team); });
  });
  socket.on("cap:alert", function (payload) {
    GW.asList(payload).forEach(function (p) {
      if (!p) return;
      (p.supersedes || []).forEach(endCap);
      upsertCap(p.alert);
    });
    renderCapCount();
    mapEl.setAttribute("data-cap-alerts", String(capShapes.size));
  });

  loadTriage();
  loadIncidents();
  loadTeams();
  loadCapAlerts();
})();
