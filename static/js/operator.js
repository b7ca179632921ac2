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

  /* ---------------- map ---------------- */
  // Leaflet puts string content in as HTML: hand it elements holding text instead.
  function textNode(text) { return el("span", { text: text }); }
  var gcj = cfg.tile_url && cfg.tile_crs === "gcj02";
  function ll(lat, lon) {
    return gcj ? GW.wgs84ToGcj02(lat, lon) : [lat, lon];
  }
  function coordsToLatLng(coords) {
    var p = ll(coords[1], coords[0]);
    return L.latLng(p[0], p[1]);
  }
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.5 }).setView(ll(36.0611, 103.8343), 9);
  var renderer = L.canvas({ padding: 0.3 });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: "" }).addTo(map);
  }
  var countyLayer = null, cellLayer = null, cellAbort = null;
  var reportLayer = L.layerGroup().addTo(map);
  var teamLayer = L.layerGroup().addTo(map);

  GW.api(cfg.token, "/api/areas?level=county&tolerance=0.002").then(function (fc) {
    countyLayer = L.geoJSON(fc, {
      renderer: renderer, coordsToLatLng: coordsToLatLng, interactive: false,
      style: { color: "#0b3d91", weight: 2, opacity: 0.8, fillColor: "#0b3d91", fillOpacity: 0.04 }
    }).addTo(map);
    countyLayer.bringToBack();
    var mine = null;
    countyLayer.eachLayer(function (layer) {
      var code = layer.feature.properties.code;
      if (cfg.area_code && cfg.area_code.indexOf(code) === 0) mine = layer;
      var center = layer.getBounds().getCenter();
      L.tooltip({ permanent: true, direction: "center", className: "county-label", opacity: 0.9, interactive: false })
        .setLatLng(center).setContent(textNode(layer.feature.properties.name)).addTo(map);
    });
    var bounds = (mine || countyLayer).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
  }).catch(function () { /* the queue works without outlines */ });

  function loadCells() {
    if (cellAbort) { cellAbort.abort(); cellAbort = null; }
    if (map.getZoom() < 13) {
      if (cellLayer) { map.removeLayer(cellLayer); cellLayer = null; }
      return;
    }
    var b = map.getBounds();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
    cellAbort = window.AbortController ? new AbortController() : null;
    GW.api(cfg.token, "/api/areas?level=cell&bbox=" + bbox + "&tolerance=0.0002",
      { signal: cellAbort ? cellAbort.signal : undefined }).then(function (fc) {
      if (cellLayer) map.removeLayer(cellLayer);
      cellLayer = L.geoJSON(fc, {
        renderer: renderer, coordsToLatLng: coordsToLatLng,
        style: { color: "#37474f", weight: 1, opacity: 0.7, fillOpacity: 0.02 },
        onEachFeature: function (feature, layer) {
          layer.bindTooltip(textNode(feature.properties.name + " · " + feature.properties.code), { sticky: true });
        }
      }).addTo(map);
      cellLayer.bringToBack();
    }).catch(function () { /* aborted or offline */ });
  }
  var cellTimer = null;
  map.on("moveend", function () { clearTimeout(cellTimer); cellTimer = setTimeout(loadCells, 250); });

  function placeMarker(r) {
    var old = markers.get(r.id);
    if (old) reportLayer.removeLayer(old);
    if (typeof r.lat !== "number" || typeof r.lon !== "number") return;
    var marker = L.circleMarker(ll(r.lat, r.lon), {
      renderer: renderer, radius: r.risk_level === "red" ? 11 : 8, color: "#fff", weight: 2,
      fillColor: RISK_COLOUR[r.risk_level] || "#757575", fillOpacity: 0.95
    });
    marker.bindTooltip(textNode(cat(r.category) + " · " + riskLabel(r.risk_level)));
    marker.on("click", function () { focusReport(r.id, false); });
    marker.addTo(reportLayer);
    markers.set(r.id, marker);
    // The most dangerous on top where reports overlap.
    if (r.risk_level === "red") marker.bringToFront();
  }
  function dropMarker(id) {
    var m = markers.get(id);
    if (m) { reportLayer.removeLayer(m); markers.delete(id); }
  }

  function showTeam(team) {
    var pos = team.position;
    var old = teamMarkers.get(team.id);
    if (old) teamLayer.removeLayer(old);
    if (!pos || typeof pos.lat !== "number") return;
    var icon = L.divIcon({ className: "team-marker", html: "", iconSize: [16, 16] });
    var m = L.marker(ll(pos.lat, pos.lon), { icon: icon, keyboard: false })
      .bindTooltip(textNode(team.name + " · " + (codes.team_status[team.status] || team.status)));
    m.addTo(teamLayer);
    teamMarkers.set(team.id, m);
  }

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
        el("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "incident", text: t.create_incident })
      ]));
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
  queue.addEventListener("click", function (event) {
    var item = event.target.closest("[data-report-id]");
    if (!item) return;
    var id = Number(item.getAttribute("data-report-id"));
    var button = event.target.closest("button[data-action]");
    if (!button) {
      if (!event.target.closest("input")) { focusReport(id, true); claim(id); }
      return;
    }
    var action = button.getAttribute("data-action");
    if (action === "incident") { createIncident([id]); return; }
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
      list.forEach(upsertIncident);
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
      (full.timeline || []).forEach(function (e) {
        var change = e.after && e.after.status ? " → " + e.after.status : "";
        timeline.appendChild(el("li", { text: GW.formatTime(e.at, cfg.lang, false) + " " + e.action + " " + e.entity + change }));
      });
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
      loadTriage();
      loadIncidents();
      if (selectedIncident !== null) loadDetail(selectedIncident);
    }
  });
  socket.on("report:new", function (payload) {
    GW.asList(payload).forEach(function (p) { upsertReport(p && p.report, true); });
    renderQueue();
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
  });
  socket.on("report:updated", function (payload) {
    GW.asList(payload).forEach(function (p) {
      var r = p && p.report;
      if (!r) return;
      if (QUEUE_STATUSES[r.status]) upsertReport(r, true); else removeReport(r.id);
    });
    renderQueue();
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

  loadTriage();
  loadIncidents();
})();
