/* Supervision: the league table, the cases behind each number, charts and the coverage map.
 * Everything from the API goes in as text; the score is shown as the server computed it. */
(function () {
  "use strict";
  var GW = window.GW, cfg = GW.readConfig(), t = cfg.t, el = GW.el, fmt = GW.fmt;
  var NEXT_LEVEL = { county: "township", township: "village" };
  var FLAG_COLOUR = { red: "#c62828", yellow: "#f9c80e" };
  var PLAIN_COLOUR = "#0b3d91";
  // A share or a median is computed from a set of cases: clicking it lists that set.
  var TRACE_VIA = {
    coverage: "covered_cells", review_within_deadline: "reviewed", review_s_median: "reviewed",
    ack_s_median: "acknowledged", on_scene_s_median: "incidents", resolution_rate: "resolved",
    followups_on_time_share: "followups_on_time"
  };
  var DISTRIBUTIONS = ["review_s", "ack_s", "on_scene_s"];
  var AREA_TOLERANCE = { county: 0.002, township: 0.0008, village: 0.0003 };

  var state = { period: cfg.period, level: cfg.level, area: cfg.area || null };
  var bulletin = null;
  var charts = {};
  var loadSeq = 0;

  var main = document.getElementById("supervision");
  var form = document.getElementById("controls");
  var monthInput = document.getElementById("sv-month");
  var spanSelect = document.getElementById("sv-span");
  var rangeOption = document.getElementById("sv-span-range");
  var levelSelect = document.getElementById("sv-level");
  var csvLink = document.getElementById("csv-link");
  var printLink = document.getElementById("print-link");
  var pdfLink = document.getElementById("pdf-link");
  var errorBox = document.getElementById("sv-error");
  var league = document.getElementById("league");
  var casesPanel = document.getElementById("cases");
  var casesList = document.getElementById("cases-list");
  var layout = document.querySelector(".sv-layout");

  /* ---------------- numbers ---------------- */
  var numberFormat = new Intl.NumberFormat(cfg.lang === "en" ? "en-GB" : "zh-CN", { maximumFractionDigits: 1 });
  var scoreFormat = new Intl.NumberFormat(cfg.lang === "en" ? "en-GB" : "zh-CN", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function num(v) { return v === null || v === undefined ? "—" : numberFormat.format(v); }
  function pct(v) { return v === null || v === undefined ? "—" : Math.round(v * 100) + "%"; }
  function duration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 90) return fmt(t.s, { n: Math.round(s) });
    if (s < 5400) return fmt(t.min, { n: Math.round(s / 60) });
    if (s < 172800) return fmt(t.h, { n: numberFormat.format(Math.round(s / 360) / 10) });
    return fmt(t.d, { n: numberFormat.format(Math.round(s / 8640) / 10) });
  }
  function shortDuration(s) {
    if (s < 60) return fmt(t.s, { n: s });
    if (s < 3600) return fmt(t.min, { n: Math.round(s / 60) });
    if (s <= 86400) return fmt(t.h, { n: Math.round(s / 360) / 10 });
    return fmt(t.d, { n: Math.round(s / 8640) / 10 });
  }
  var SHARES = { coverage: 1, review_within_deadline: 1, resolution_rate: 1, followups_on_time_share: 1 };
  function figureText(key, value) {
    if (SHARES[key]) return pct(value);
    if (/_s_(median|p90)$/.test(key)) return duration(value);
    return num(value);
  }
  /* 2026-11 → 2026年11月, 2026-Q4 → 2026年第4季度, 2026 → 2026年度, a range as its dates. */
  function periodText(p) {
    var m;
    if ((m = /^(\d{4})-(\d{2})$/.exec(p))) {
      return new Intl.DateTimeFormat(cfg.lang === "en" ? "en-GB" : "zh-CN", { year: "numeric", month: "long", timeZone: "UTC" })
        .format(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)));
    }
    if ((m = /^(\d{4})-Q([1-4])$/.exec(p))) return fmt(t.quarter, { year: m[1], q: m[2] });
    if ((m = /^(\d{4})$/.exec(p))) return fmt(t.year, { year: m[1] });
    if ((m = /^(.+)\.\.(.+)$/.exec(p))) return fmt(t.range, { start: m[1], end: m[2] });
    return p;
  }
  function localDate(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  }
  /* The bulletin's end is exclusive: the last day covered is the day before. */
  function lastDay(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return localDate(new Date(d.getTime() - 1000).toISOString());
  }

  /* ---------------- period controls ---------------- */
  function thisMonth() {
    return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" })
      .format(new Date()).slice(0, 7);
  }
  function setControls() {
    var p = state.period || thisMonth(), m;
    rangeOption.hidden = true;
    if ((m = /^(\d{4})-(\d{2})$/.exec(p))) { monthInput.value = p; spanSelect.value = "month"; }
    else if ((m = /^(\d{4})-Q([1-4])$/.exec(p))) {
      monthInput.value = m[1] + "-" + ("0" + (3 * Number(m[2]) - 2)).slice(-2); spanSelect.value = "quarter";
    } else if ((m = /^(\d{4})$/.exec(p))) { monthInput.value = m[1] + "-01"; spanSelect.value = "year"; }
    else if ((m = /^(\d{4}-\d{2})-\d{2}\.\.\d{4}-\d{2}-\d{2}$/.exec(p))) {
      monthInput.value = m[1]; rangeOption.hidden = false; rangeOption.textContent = p; spanSelect.value = "range";
    } else { monthInput.value = thisMonth(); spanSelect.value = "month"; }
    levelSelect.value = state.level;
  }
  function periodFromControls() {
    var month = monthInput.value || thisMonth(), span = spanSelect.value;
    if (span === "range") return state.period;
    if (span === "year") return month.slice(0, 4);
    if (span === "quarter") return month.slice(0, 4) + "-Q" + Math.ceil(Number(month.slice(5, 7)) / 3);
    return month;
  }
  function query(extra) {
    var params = new URLSearchParams({ period: state.period, level: state.level });
    if (state.area) params.set("area", state.area);
    Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
    return params.toString();
  }
  function syncLinks() {
    csvLink.href = cfg.urls.csv + "?" + query();
    printLink.href = cfg.urls.print + "?" + query();
    pdfLink.href = cfg.urls.pdf + "?" + query();
    history.replaceState(null, "", cfg.urls.page + "?" + query());
  }
  form.addEventListener("change", function () {
    state.period = periodFromControls();
    state.level = levelSelect.value;
    load();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  document.getElementById("sv-up").addEventListener("click", function () {
    state.area = null;
    state.level = "county";
    load();
  });

  function showError(err) {
    var e = (err && err.error) || {};
    errorBox.textContent = fmt(t.load_failed, { message: e.message || e.code || String(err) });
    errorBox.hidden = false;
  }

  /* ---------------- loading ---------------- */
  function load() {
    var seq = ++loadSeq;
    setControls();
    syncLinks();
    closeCases();
    errorBox.hidden = true;
    main.setAttribute("data-state", "loading");
    GW.api(cfg.token, cfg.urls.bulletin + "?" + query()).then(function (data) {
      if (seq !== loadSeq) return;
      bulletin = data;
      render(data);
      main.setAttribute("data-state", "ready");
      main.setAttribute("data-period", data.period);
      loadTrends(data, seq);
      drawMap(data, seq);
    }).catch(function (err) {
      if (seq !== loadSeq) return;
      main.setAttribute("data-state", "error");
      showError(err);
    });
  }

  function render(b) {
    document.getElementById("sv-title").textContent = fmt(t.title, { scope: b.scope.name, period: periodText(b.period) });
    document.getElementById("sv-sub").textContent = fmt(t.sub, {
      start: localDate(b.start), end: lastDay(b.end), level: cfg.levels[b.level] || b.level,
      at: GW.formatTime(b.computed_at, cfg.lang, true)
    });
    document.getElementById("sv-scope").hidden = !state.area || state.area === cfg.area_code;
    renderLeague(b);
    renderNotes(b);
    renderTeams(b);
    drawScores(b);
    DISTRIBUTIONS.forEach(function (key) { drawDistribution(key, (b.distributions || {})[key]); });
  }

  /* ---------------- league table ---------------- */
  function figureButton(unit, key, label) {
    var value = (unit.figures || {})[key];
    var text = figureText(key, value);
    var traceable = unit.traceable || [];
    var figure = traceable.indexOf(key) >= 0 ? key : (TRACE_VIA[key] && traceable.indexOf(TRACE_VIA[key]) >= 0 ? TRACE_VIA[key] : null);
    var title = (cfg.figures[key] || key) + (figure && figure !== key ? " → " + (cfg.figures[figure] || figure) : "");
    if (!figure || value === null || value === undefined) {
      return el("span", { class: "fig", "data-shown": key, title: cfg.figures[key] || key, text: text });
    }
    return el("button", {
      type: "button", class: "fig fig-link", "data-unit": unit.code, "data-figure": figure, "data-shown": key,
      "data-label": label || cfg.figures[figure] || figure, title: title, text: text
    });
  }
  function figureCell(unit, column) {
    var b = function (k) { return figureButton(unit, k); };
    var parts;
    switch (column) {
      case "coverage": parts = [b("coverage"), el("small", {}, [" ", b("covered_cells"), "/", b("cells")])]; break;
      case "informants": parts = [b("active_informants"), "/", b("informants")]; break;
      case "reports": parts = [b("reports"), " · ", b("checkins")]; break;
      case "review": parts = [b("review_within_deadline"), el("small", {}, [" ", b("review_s_median")])]; break;
      case "response": parts = [b("ack_s_median"), " · ", b("on_scene_s_median")]; break;
      case "resolution": parts = [b("resolved"), "/", b("incidents"), el("small", {}, [" ", b("resolution_rate")])]; break;
      case "backlog": parts = [b("overdue_backlog")]; break;
      case "followups": parts = [b("followups_on_time"), "/", b("followups_due")]; break;
      default: parts = [b(column)];
    }
    return el("td", { class: "num", "data-column": column }, parts);
  }
  function flagBadge(flag) {
    if (!flag) return null;
    return el("span", { class: "flag flag-" + flag, "data-flag": flag, text: flag === "red" ? t.red_flag : t.yellow_flag });
  }
  /* Warnings beside the score; each lists its cases when the server can trace them. */
  function signalChips(unit) {
    return (unit.signals || []).map(function (s) {
      var figure = "signal:" + s.code;
      var label = cfg.signals[s.code] || s.code;
      var traceable = (unit.traceable || []).indexOf(figure) >= 0;
      return el(traceable ? "button" : "span", {
        type: traceable ? "button" : null, class: "signal-chip" + (traceable ? " fig-link" : ""),
        "data-signal": s.code, "data-unit": traceable ? unit.code : null, "data-figure": traceable ? figure : null,
        "data-label": label, title: s.message || "", text: "⚠ " + label + (s.count ? " ×" + s.count : "")
      });
    });
  }
  function unitRow(unit, columns) {
    var status = unit.status || "ranked";
    var next = NEXT_LEVEL[unit.level || state.level];
    var name = el("span", { class: "unit-name", text: unit.name || unit.code });
    var expand = el("button", {
      type: "button", class: "expand", "aria-expanded": "false", "aria-label": t.details, title: t.details, text: "▸"
    });
    var nameCell = el("th", { scope: "row", class: "unit" }, [expand, " ", name]);
    if (next) {
      nameCell.appendChild(el("button", {
        type: "button", class: "drill", "data-drill": unit.code, title: fmt(t.drill, { name: unit.name }), text: "⤵"
      }));
    }
    var scoreText = status === "ranked" ? el("strong", { class: "score-value", text: unit.score === null ? "—" : scoreFormat.format(unit.score) })
      : el("span", { class: "muted unranked", text: status === "insufficient" ? t.insufficient : t.too_few_units });
    var scoreCell = el("td", { class: "score" }, [el("div", { class: "score-line" }, [scoreText].concat(signalChips(unit)))]);
    var row = el("tr", {
      class: "unit-row status-" + status, "data-unit-code": unit.code, "data-rank": unit.rank === null || unit.rank === undefined ? "" : unit.rank,
      "data-flag": unit.flag || "", "data-status": status
    }, [
      el("td", { class: "rank" }, [el("span", { class: "rank-n", text: unit.rank ? String(unit.rank) : "—" }), flagBadge(unit.flag)]),
      nameCell,
      scoreCell
    ].concat(columns.map(function (c) { return figureCell(unit, c); })));
    var detail = el("tr", { class: "unit-detail", "data-detail-for": unit.code, hidden: true },
      [el("td", { colspan: String(3 + columns.length) }, detailContent(unit))]);
    expand.addEventListener("click", function () {
      var open = detail.hidden;
      detail.hidden = !open;
      expand.setAttribute("aria-expanded", open ? "true" : "false");
      expand.textContent = open ? "▾" : "▸";
    });
    return [row, detail];
  }
  function chip(unit, figure, label, count) {
    var traceable = (unit.traceable || []).indexOf(figure) >= 0 && count;
    return el(traceable ? "button" : "span", {
      type: traceable ? "button" : null, class: "chip" + (traceable ? " fig-link" : ""),
      "data-unit": traceable ? unit.code : null, "data-figure": traceable ? figure : null, "data-label": label
    }, [label + " ", el("b", { text: num(count) })]);
  }
  function detailContent(unit) {
    var parts = [];
    var comps = unit.components || {};
    var compList = el("ul", { class: "components" });
    Object.keys(cfg.components).forEach(function (key) {
      if (!(key in comps)) return;
      var v = comps[key];
      var weight = bulletin && bulletin.config && bulletin.config.weights ? bulletin.config.weights[key] : null;
      compList.appendChild(el("li", {}, [
        el("span", { class: "comp-label", text: cfg.components[key] + (weight ? " (" + pct(weight) + ")" : "") }),
        el("span", { class: "bar" }, [el("span", { class: "bar-fill", "data-share": v === null ? "" : Math.round(v * 100) })]),
        el("span", { class: "comp-value", text: pct(v) })
      ]));
    });
    parts.push(el("div", { class: "detail-block" }, [el("h3", { text: t.components }), compList]));
    var bd = unit.breakdown || {};
    var cats = bd.category || {}, levels = bd.level || {};
    var catChips = Object.keys(cats).filter(function (k) { return cats[k]; }).map(function (k) {
      var figure = (unit.traceable || []).indexOf("category:" + k) >= 0 ? "category:" + k : "reports:" + k;
      return chip(unit, figure, cfg.codes.category[k] || k, cats[k]);
    });
    var levelChips = ["red", "orange", "yellow", "blue", "unscored"].filter(function (k) { return levels[k]; }).map(function (k) {
      var c = chip(unit, "level:" + k, k === "unscored" ? t.unscored : cfg.codes.risk[k] || k, levels[k]);
      c.classList.add("chip-" + k);
      return c;
    });
    parts.push(el("div", { class: "detail-block" }, [el("h3", { text: t.breakdown_category }), el("p", { class: "chips" }, catChips)]));
    parts.push(el("div", { class: "detail-block" }, [el("h3", { text: t.breakdown_level }), el("p", { class: "chips" }, levelChips)]));
    if ((unit.signals || []).length) {
      parts.push(el("div", { class: "detail-block" }, [el("h3", { text: t.signals }), el("ul", { class: "signal-list" },
        unit.signals.map(function (s) {
          return el("li", { "data-signal": s.code }, [el("b", { text: (cfg.signals[s.code] || s.code) + ": " }), s.message || ""]);
        }))]));
    }
    return [el("div", { class: "detail-grid" }, parts)];
  }
  function renderLeague(b) {
    var columns = Array.prototype.map.call(league.querySelectorAll("thead th[data-column]"), function (th) {
      return th.getAttribute("data-column");
    });
    var body = league.tBodies[0], foot = league.tFoot;
    GW.clear(body);
    GW.clear(foot);
    (b.units || []).forEach(function (unit) {
      unitRow(unit, columns).forEach(function (row) { body.appendChild(row); });
    });
    // Bars for the parts of the score: widths through the CSSOM (the policy has no inline styles).
    Array.prototype.forEach.call(body.querySelectorAll(".bar-fill"), function (bar) {
      var share = bar.getAttribute("data-share");
      bar.style.width = (share === "" ? 0 : share) + "%";
    });
    document.getElementById("league-empty").hidden = (b.units || []).length > 0;
    if (b.totals) {
      // The scope's own totals trace too (the unit is then the scope): the plain figure names.
      var plain = ((b.units || [])[0] || {}).traceable || [];
      var total = {
        code: b.scope.code, name: b.scope.name, figures: b.totals,
        traceable: plain.filter(function (f) { return f.indexOf(":") < 0; })
      };
      foot.appendChild(el("tr", { class: "totals" }, [
        el("td", {}), el("th", { scope: "row", text: t.total }),
        el("td", { class: "muted", text: fmt(t.ranked_of, { n: rankedCount(b) }) })
      ].concat(columns.map(function (c) { return figureCell(total, c); }))));
    }
  }
  function rankedCount(b) {
    return (b.units || []).filter(function (u) { return u.status === "ranked"; }).length;
  }
  league.addEventListener("click", function (e) {
    var target = e.target.closest("button");
    if (!target) return;
    if (target.hasAttribute("data-figure")) {
      openCases(target);
    } else if (target.hasAttribute("data-drill")) {
      state.area = target.getAttribute("data-drill");
      state.level = NEXT_LEVEL[state.level] || state.level;
      load();
    }
  });
  function renderNotes(b) {
    var notes = document.getElementById("sv-notes");
    GW.clear(notes);
    (b.notes || []).forEach(function (note) { notes.appendChild(el("li", { text: note })); });
  }
  var TEAMS_SHOWN = 15;  // a city has a thousand village teams: the busiest first
  function renderTeams(b) {
    var body = document.querySelector("#teams tbody");
    var more = document.getElementById("teams-more");
    GW.clear(body);
    (b.teams || []).forEach(function (team, i) {
      body.appendChild(el("tr", { "data-team-id": team.team_id, hidden: i >= TEAMS_SHOWN ? "" : null }, [
        el("th", { scope: "row", text: team.name }),
        el("td", { text: cfg.codes.team_kind[team.kind] || team.kind }),
        el("td", { class: "num", text: num(team.offers) }),
        el("td", { class: "num", text: num(team.acknowledged) }),
        el("td", { class: "num", text: num(team.timeouts) }),
        el("td", { class: "num", text: num(team.declines) }),
        el("td", { class: "num", text: duration(team.ack_s_median) })
      ]));
    });
    document.getElementById("teams-empty").hidden = (b.teams || []).length > 0;
    more.hidden = (b.teams || []).length <= TEAMS_SHOWN;
    more.textContent = fmt(t.allTeams, { n: (b.teams || []).length });
  }
  document.getElementById("teams-more").addEventListener("click", function () {
    document.querySelectorAll("#teams tbody tr[hidden]").forEach(function (row) { row.hidden = false; });
    this.hidden = true;
  });

  /* ---------------- the cases behind a number ---------------- */
  var casesAbort = null;
  function closeCases() {
    if (casesAbort) { casesAbort.abort(); casesAbort = null; }
    casesPanel.hidden = true;
    layout.classList.remove("has-cases");
    casesPanel.setAttribute("data-state", "idle");
    Array.prototype.forEach.call(league.querySelectorAll(".fig-link.is-active"), function (n) { n.classList.remove("is-active"); });
  }
  document.getElementById("cases-close").addEventListener("click", closeCases);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !casesPanel.hidden) closeCases(); });
  function openCases(button) {
    var unitCode = button.getAttribute("data-unit"), figure = button.getAttribute("data-figure");
    var unit = ((bulletin && bulletin.units) || []).filter(function (u) { return u.code === unitCode; })[0] ||
      (bulletin && bulletin.scope.code === unitCode ? bulletin.scope : null);
    closeCases();
    button.classList.add("is-active");
    casesPanel.hidden = false;
    layout.classList.add("has-cases");
    casesPanel.setAttribute("data-unit", unitCode);
    casesPanel.setAttribute("data-figure", figure);
    casesPanel.setAttribute("data-state", "loading");
    document.getElementById("cases-h").textContent = fmt(t.cases_title, {
      unit: unit ? unit.name : unitCode, figure: button.getAttribute("data-label") || figure
    });
    document.getElementById("cases-meta").textContent = t.loading;
    GW.clear(casesList);
    casesAbort = window.AbortController ? new AbortController() : null;
    GW.api(cfg.token, cfg.urls.cases + "?" + query({ unit: unitCode, figure: figure }),
      { signal: casesAbort ? casesAbort.signal : undefined }).then(function (data) {
      renderCases(data);
      casesPanel.setAttribute("data-state", "ready");
    }).catch(function (err) {
      if (err && err.name === "AbortError") return;
      casesPanel.setAttribute("data-state", "error");
      var e = (err && err.error) || {};
      document.getElementById("cases-meta").textContent = fmt(t.load_failed, { message: e.message || e.code || "" });
    });
    if (window.matchMedia("(max-width: 1199px)").matches) casesPanel.scrollIntoView({ block: "start" });
    casesPanel.focus({ preventScroll: true });
  }
  /* The server labels a report "category · status" in codes: show them in words. */
  function caseLabel(type, item) {
    var label = item.label || "";
    if (label === type + " " + item.id) return "";
    if (type === "report" || type === "close") {
      var parts = label.split(" · ");
      if (parts.length === 2 && cfg.codes.category[parts[0]]) {
        return cfg.codes.category[parts[0]] + " · " + (cfg.codes.report_status[parts[1]] || parts[1]);
      }
    }
    return label;
  }
  /* "report:12" (a closed case) names its own kind. */
  function caseTitle(type, id) {
    var text = String(id), colon = text.indexOf(":");
    if (colon > 0) {
      var kind = text.slice(0, colon);
      return (t.case_types[kind] || kind) + " #" + text.slice(colon + 1);
    }
    return (t.case_types[type] || type) + " #" + text;
  }
  function renderCases(data) {
    var ids = data.ids || [], items = data.items || [];
    var total = typeof data.count === "number" ? data.count : ids.length;
    var type = data.type || "";
    var meta = total ? fmt(t.cases_count, { n: total }) : t.cases_none;
    if (total > ids.length) meta += " · " + fmt(t.cases_shown, { n: ids.length });
    document.getElementById("cases-meta").textContent = meta;
    casesPanel.setAttribute("data-type", type);
    casesPanel.setAttribute("data-count", String(total));
    var seen = {};
    items.forEach(function (item) {
      seen[item.id] = true;
      casesList.appendChild(el("li", { class: "case", "data-case-id": item.id }, [
        el("span", { class: "case-id", text: caseTitle(type, item.id) }),
        el("span", { class: "case-label", text: caseLabel(type, item) }),
        item.at ? el("time", { class: "case-at muted", datetime: item.at, text: GW.formatTime(item.at, cfg.lang, true) }) : null
      ]));
    });
    ids.filter(function (id) { return !seen[id]; }).forEach(function (id) {
      casesList.appendChild(el("li", { class: "case case-bare", "data-case-id": id }, [
        el("span", { class: "case-id", text: caseTitle(type, id) })
      ]));
    });
  }

  /* ---------------- charts ---------------- */
  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 13;
    Chart.defaults.color = "#333";
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
  }
  function replaceChart(key, canvasId, config) {
    if (charts[key]) { charts[key].destroy(); delete charts[key]; }
    if (!window.Chart) return null;
    charts[key] = new Chart(document.getElementById(canvasId), config);
    return charts[key];
  }
  function percentAxis(position) {
    return {
      type: "linear", position: position, min: 0, max: 100, grid: { drawOnChartArea: false },
      title: { display: true, text: t.share_axis }, ticks: { callback: function (v) { return v + "%"; } }
    };
  }
  function drawScores(b) {
    var ranked = (b.units || []).filter(function (u) { return u.status === "ranked" && u.score !== null; });
    replaceChart("scores", "chart-scores", {
      type: "bar",
      data: {
        labels: ranked.map(function (u) { return u.name; }),
        datasets: [{
          label: t.score, data: ranked.map(function (u) { return u.score; }),
          backgroundColor: ranked.map(function (u) { return FLAG_COLOUR[u.flag] || PLAIN_COLOUR; }),
          borderColor: ranked.map(function (u) { return u.flag === "yellow" ? "#9a7b00" : FLAG_COLOUR[u.flag] || PLAIN_COLOUR; }),
          borderWidth: 1
        }]
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          title: { display: !ranked.length, text: t.no_ranked }
        },
        scales: { x: { min: 0, max: 100, title: { display: true, text: t.score } } }
      }
    });
  }
  function binLabels(edges) {
    var labels = [fmt(t.under, { v: shortDuration(edges[0]) })];
    for (var i = 1; i < edges.length; i++) labels.push(shortDuration(edges[i - 1]) + "–" + shortDuration(edges[i]));
    labels.push(fmt(t.over, { v: shortDuration(edges[edges.length - 1]) }));
    return labels;
  }
  function drawDistribution(key, dist) {
    var edges = (dist && dist.edges) || [], counts = (dist && dist.counts) || [];
    replaceChart(key, "chart-" + key, {
      type: "bar",
      data: {
        labels: edges.length ? binLabels(edges) : [],
        datasets: [{ label: t.cases_axis, data: counts, backgroundColor: "#1e5bb8" }]
      },
      options: {
        plugins: { legend: { display: false }, title: { display: !counts.length, text: t.no_data } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t.cases_axis } } }
      }
    });
  }
  function endMonth(b) {
    var last = lastDay(b.end);
    var now = thisMonth();
    return last && last.slice(0, 7) < now ? last.slice(0, 7) : now;
  }
  function loadTrends(b, seq) {
    var params = new URLSearchParams({ months: "6", end: endMonth(b) });
    if (state.area) params.set("area", state.area);
    GW.api(cfg.token, cfg.urls.trends + "?" + params.toString()).then(function (data) {
      if (seq !== loadSeq) return;
      drawTrends(data.months || []);
    }).catch(function (err) {
      if (seq !== loadSeq) return;
      showError(err);
    });
  }
  function share(v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }
  function drawTrends(months) {
    replaceChart("trends", "chart-trends", {
      data: {
        labels: months.map(function (m) { return m.period; }),
        datasets: [
          { type: "bar", label: t.reports, yAxisID: "y", backgroundColor: "rgba(11,61,145,.55)",
            data: months.map(function (m) { return (m.figures || {}).reports; }) },
          { type: "line", label: t.coverage, yAxisID: "share", borderColor: "#1b7f3b", backgroundColor: "#1b7f3b",
            spanGaps: true, data: months.map(function (m) { return share((m.figures || {}).coverage); }) },
          { type: "line", label: t.review_in_time, yAxisID: "share", borderColor: "#e65100", backgroundColor: "#e65100",
            borderDash: [6, 3], spanGaps: true, data: months.map(function (m) { return share((m.figures || {}).review_within_deadline); }) }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 18 } } },
        scales: {
          y: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t.reports } },
          share: percentAxis("right")
        }
      }
    });
  }

  /* ---------------- coverage map ---------------- */
  var mapEl = document.getElementById("sv-map");
  var gcj = !!(cfg.tile_url && cfg.tile_crs === "gcj02");
  function ll(lat, lon) { return gcj ? GW.wgs84ToGcj02(lat, lon) : [lat, lon]; }
  var map = null, areaLayer = null, legend = null;
  if (window.L) {
    map = L.map("sv-map", { preferCanvas: true, zoomSnap: 0.5, minZoom: 5, maxZoom: 16 }).setView(ll(36.0611, 103.8343), 8);
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: "" }).addTo(map);
      mapEl.classList.add("has-tiles");
    }
    legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var box = el("div", { class: "map-legend sv-legend" }, [el("strong", { text: t.legend })]);
      var list = el("ul");
      [[0.95, "≥ 90%"], [0.8, "70–90%"], [0.6, "50–70%"], [0.4, "30–50%"], [0.1, "< 30%"], [null, t.no_data]].forEach(function (step) {
        var swatch = el("span", { class: "legend-swatch" });
        swatch.style.background = coverageColour(step[0]);
        list.appendChild(el("li", {}, [swatch, step[1]]));
      });
      box.appendChild(list);
      return box;
    };
    legend.addTo(map);
  }
  function coverageColour(share) {
    if (share === null || share === undefined) return "#b0bec5";
    if (share >= 0.9) return "#1b7f3b";
    if (share >= 0.7) return "#7cb342";
    if (share >= 0.5) return "#f9c80e";
    if (share >= 0.3) return "#ef6c00";
    return "#c62828";
  }
  function drawMap(b, seq) {
    if (!map) return;
    mapEl.removeAttribute("data-units");
    var byCode = {};
    (b.units || []).forEach(function (u) { byCode[u.code] = u; });
    var params = new URLSearchParams({ level: b.level, parent: b.scope.code, tolerance: String(AREA_TOLERANCE[b.level] || 0.0005) });
    fetch(cfg.urls.areas + "?" + params.toString(), {
      headers: { "Authorization": "Bearer " + cfg.token, "Accept": "application/geo+json, application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) return Promise.reject({ status: response.status, error: { code: "http_" + response.status } });
      return response.json();
    }).then(function (fc) {
      if (seq !== loadSeq) return;
      if (areaLayer) map.removeLayer(areaLayer);
      var drawn = 0;
      // Names on the map while they fit (a city's counties); else on hover.
      var named = fc.features.filter(function (f) { return !!byCode[f.properties.code]; }).length <= 12;
      areaLayer = L.geoJSON(fc, {
        coordsToLatLng: function (c) { var p = ll(c[1], c[0]); return L.latLng(p[0], p[1]); },
        filter: function (feature) { return !!byCode[feature.properties.code]; },
        style: function (feature) {
          var unit = byCode[feature.properties.code];
          var coverage = unit && unit.figures ? unit.figures.coverage : null;
          return { color: "#37474f", weight: 1, opacity: 0.9, fillColor: coverageColour(coverage), fillOpacity: 0.6 };
        },
        onEachFeature: function (feature, layer) {
          drawn += 1;
          var unit = byCode[feature.properties.code];
          var text = (unit.name || feature.properties.name) + " · " + pct(unit.figures ? unit.figures.coverage : null);
          layer.bindTooltip(el("span", { text: text }), named
            ? { permanent: true, direction: "center", className: "area-label sv-area-label", opacity: 0.95 }
            : { sticky: true });
          layer.on("click", function () { focusRow(unit.code); });
        }
      }).addTo(map);
      if (drawn) map.fitBounds(areaLayer.getBounds(), { padding: [10, 10] });
      mapEl.setAttribute("data-units", String(drawn));
    }).catch(function (err) {
      if (seq !== loadSeq) return;
      mapEl.setAttribute("data-units", "0");
      showError(err);
    });
  }
  function focusRow(code) {
    var row = league.querySelector('tr[data-unit-code="' + (window.CSS && CSS.escape ? CSS.escape(code) : code) + '"]');
    if (!row) return;
    Array.prototype.forEach.call(league.querySelectorAll("tr.is-focused"), function (r) { r.classList.remove("is-focused"); });
    row.classList.add("is-focused");
    row.scrollIntoView({ block: "center" });
  }

  /* Hooks for people's scripts and the browser tests. */
  window.gwSupervision = {
    charts: charts, state: state, reload: load,
    map: function () { return map; },
    bulletin: function () { return bulletin; }
  };

  load();
})();
