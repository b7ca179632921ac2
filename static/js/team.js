/* Team leader phone: one current task, an alarm while it is offered, big status buttons. */
(function () {
  "use strict";
  var GW = window.GW, cfg = GW.readConfig(), t = cfg.t, codes = cfg.codes, el = GW.el;
  var NEXT = {
    offered: ["ack", "decline"],
    acknowledged: ["en_route", "on_scene"],
    en_route: ["on_scene"],
    on_scene: ["completed"]
  };
  var SHARE = { acknowledged: 1, en_route: 1, on_scene: 1 };
  var slot = document.getElementById("task-slot");
  var standby = document.getElementById("standby");
  var errorBox = document.getElementById("team-error");
  var unlockBox = document.getElementById("sound-unlock-box");
  var current = null;
  var ringTimer = null, tickTimer = null, watchId = null, lastSent = 0, busy = false;

  function title(inc) {
    var label = codes.category[inc.category] || inc.category || "";
    var raw = inc.title || "", prefix = (inc.category || "") + " · ";
    if (!raw) return label;
    return raw.indexOf(prefix) === 0 ? label + " · " + raw.slice(prefix.length) : raw;
  }
  function showError(text) { errorBox.textContent = text || ""; errorBox.hidden = !text; }
  function errorText(ack) { var e = (ack && ack.error) || {}; return e.message || e.code || "error"; }

  /* ---- rendering ---- */
  function render() {
    var old = slot.querySelector("[data-task-id]");
    if (old) old.remove();
    if (!current) { standby.hidden = false; return; }
    standby.hidden = true;
    var task = current, inc = task.incident || {};
    var card = el("section", { class: "card task", "data-task-id": task.id, "data-status": task.status });
    var statusLine = el("div", { class: "task-status-line" }, [
      el("span", { class: "status status-" + task.status, text: codes.task_status[task.status] || task.status }),
      inc.risk_level ? el("span", { class: "risk risk-" + inc.risk_level, text: codes.risk[inc.risk_level] }) : null,
      el("span", { class: "code", text: t.task_no + " #" + task.id })
    ]);
    card.appendChild(statusLine);
    if (task.status === "offered") {
      card.appendChild(el("p", { class: "deadline-line" }, [
        el("span", { text: t.answer_in + " " }), el("span", { class: "deadline", id: "deadline" })
      ]));
    }
    card.appendChild(el("h1", { class: "task-title", text: title(inc) }));
    if (inc.category) card.appendChild(el("p", { class: "muted", text: (codes.category[inc.category] || inc.category) + (inc.cell_code ? " · " + inc.cell_code : "") }));
    var others = inc.other_teams || [];
    if (others.length) {
      card.appendChild(el("p", { class: "other-teams", text: t.also_going + ": " + others.map(function (o) {
        return o.team_name + " (" + (codes.task_status[o.status] || o.status) + ")";
      }).join("、") }));
    }
    var reports = inc.reports || [];
    if (reports.length) {
      card.appendChild(el("h2", { text: t.reports }));
      card.appendChild(el("ul", { class: "task-reports" }, reports.map(function (r) {
        var head = (codes.category[r.category] || r.category || "") + (r.severity ? " · " + t.severity + " " + r.severity : "");
        return el("li", {}, [el("strong", { text: head }), r.text ? el("div", { text: r.text }) : null]);
      })));
    }
    if (typeof inc.lat === "number" && typeof inc.lon === "number") {
      var lat = inc.lat.toFixed(6), lon = inc.lon.toFixed(6);
      var label = encodeURIComponent(inc.title || "incident");
      card.appendChild(el("p", { class: "nav-link" }, [
        el("a", { class: "btn btn-quiet btn-block", href: "geo:" + lat + "," + lon + "?q=" + lat + "," + lon + "(" + label + ")", text: t.navigate + " (" + lat + ", " + lon + ")" })
      ]));
    }
    var actions = NEXT[task.status] || [];
    if (actions.length) {
      card.appendChild(el("div", { class: "task-actions" }, actions.map(function (action) {
        var style = action === "decline" ? "btn btn-danger" : (action === "ack" ? "btn btn-ok btn-solid" : "btn btn-primary");
        return el("button", { type: "button", class: style, "data-action": action, text: t[action], disabled: busy });
      })));
    } else {
      card.appendChild(el("p", { class: "muted", text: t.ended }));
    }
    if (SHARE[task.status] && watchId !== null) card.appendChild(el("p", { class: "sharing", text: t.sharing }));
    slot.insertBefore(card, standby);
    tick();
  }

  /* ---- deadline, alarm, position ---- */
  function tick() {
    var node = document.getElementById("deadline");
    if (!node || !current || !current.ack_deadline) return;
    var left = Math.round((new Date(current.ack_deadline).getTime() - Date.now()) / 1000);
    if (left <= 0) { node.textContent = t.overdue; return; }
    var m = Math.floor(left / 60), s = left % 60;
    node.textContent = m + ":" + (s < 10 ? "0" : "") + s;
  }
  function ring() {
    GW.beep([[988, 0.25], [0, 0.1], [988, 0.25], [0, 0.1], [1319, 0.45]]);
    if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 600]);
    unlockBox.hidden = !GW.audioBlocked();
  }
  function sync() {
    var offered = current && current.status === "offered";
    if (offered && !ringTimer) { ring(); ringTimer = setInterval(ring, 2500); }
    if (!offered && ringTimer) {
      clearInterval(ringTimer); ringTimer = null;
      if (navigator.vibrate) navigator.vibrate(0);
      unlockBox.hidden = true;
    }
    if (offered && !tickTimer) tickTimer = setInterval(tick, 1000);
    if (!offered && tickTimer) { clearInterval(tickTimer); tickTimer = null; }
    var share = current && SHARE[current.status];
    if (share && watchId === null && navigator.geolocation) {
      watchId = navigator.geolocation.watchPosition(sendPosition, function () {}, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
    }
    if (!share && watchId !== null) { navigator.geolocation.clearWatch(watchId); watchId = null; }
  }
  function sendPosition(pos) {
    var now = Date.now();
    if (now - lastSent < 15000 || !socket.connected) return; // at most every 15 s
    lastSent = now;
    socket.emit("team:position", {
      lat: pos.coords.latitude, lon: pos.coords.longitude, at: new Date(pos.timestamp || now).toISOString()
    }, function () {});
  }
  document.getElementById("sound-unlock").addEventListener("click", function () {
    GW.unlockAudio();
    unlockBox.hidden = true;
    if (current && current.status === "offered") ring();
  });

  function setTask(task) {
    var was = current;
    if (task && was && was.id === task.id && !task.incident) task = Object.assign({}, was, task);
    current = task || null;
    render();
    sync();
  }

  /* ---- actions ---- */
  slot.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || !current || busy) return;
    var action = button.getAttribute("data-action"), taskId = current.id, event_, payload;
    if (action === "ack") { event_ = "task:ack"; payload = { task_id: taskId }; }
    else if (action === "decline") {
      var reason = window.prompt(t.decline_reason, "");
      if (reason === null) return;
      event_ = "task:decline"; payload = { task_id: taskId, reason: reason.slice(0, 500) };
    } else { event_ = "task:status"; payload = { task_id: taskId, status: action }; }
    busy = true;
    showError("");
    slot.querySelectorAll("button[data-action]").forEach(function (b) { b.disabled = true; });
    socket.timeout(15000).emit(event_, payload, function (err, ack) {
      busy = false;
      if (!err && ack && ack.ok && ack.task) { setTask(ack.task); return; }
      showError(err ? t.offline : errorText(ack));
      render();
      loadCurrent();
    });
  });

  /* ---- the team's own status, between tasks ---- */
  var teamState = document.getElementById("team-state");
  function showTeam(team) {
    if (!team) return;
    teamState.textContent = codes.team_status[team.status] || team.status;
    teamState.setAttribute("data-team-status", team.status);
    standby.querySelectorAll("button[data-team-status]").forEach(function (b) {
      b.hidden = b.getAttribute("data-team-status") === team.status;
    });
  }
  standby.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-team-status]");
    if (!button) return;
    button.disabled = true;
    socket.timeout(15000).emit("team:status", { status: button.getAttribute("data-team-status") }, function (err, ack) {
      button.disabled = false;
      if (!err && ack && ack.ok) { showTeam(ack.team); showError(""); return; }
      showError(err ? t.offline : errorText(ack));
    });
  });

  function loadCurrent() {
    return GW.api(cfg.token, "/api/tasks/current").then(function (data) {
      showTeam(data.team);
      // Keep showing a task that just ended until a new one arrives.
      if (data.task || !current || NEXT[current.status]) setTask(data.task);
    }).catch(function (err) { showError(errorText(err)); });
  }

  var socket = GW.connectSocket("/team", cfg.token, t, { connect: loadCurrent });
  socket.on("task:offered", function (payload) {
    GW.asList(payload).forEach(function (p) { if (p && p.task) setTask(p.task); });
  });
  socket.on("team:updated", function (payload) {
    GW.asList(payload).forEach(function (p) { if (p && p.team) showTeam(p.team); });
  });
  socket.on("task:updated", function (payload) {
    GW.asList(payload).forEach(function (p) {
      var task = p && p.task;
      if (!task) return;
      if (current && current.id === task.id) setTask(task);
      else if (!current || !NEXT[current.status]) loadCurrent();
    });
  });
})();
