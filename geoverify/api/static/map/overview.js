/* The day overview, the map page's first view: every grid coloured by the state of the day's
   patrols in it, counts per state, the day's flags clustered on the map, and the day's patrols in a
   list to filter (state, severity, and the filter form's grid, member, flag code and status) and
   sort. A grid leads to its patrols, a flag to its place on the track.
   Data: GET /api/v1/map/day (geoverify/store/overview.py). map.js tells when grids are loaded
   ("gv:grids") and when a patrol is drawn ("gv:patrol"); GV.mapActions opens patrols. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var STATES = GV.vocabulary.day_states, GRID_STATES = GV.vocabulary.grid_states;
  var RANK = {}, SEV_RANK = { high: 0, medium: 1, low: 2 };
  GRID_STATES.forEach(function (s, i) { RANK[s] = i; });
  var FILL = { held: "#d7191c", rejected: "#5d4037", below: "#f28e2b", flagged: "#f6d32d", credited: "#1a9850",
               none: "#9aa5b1" };
  var PANE = "gv-day";
  var SORTS = ["urgent", "grid", "member", "verified", "flags"];
  var day = { data: null, layer: null, clusters: null, legend: null, seq: 0, patrolId: null,
              filter: { state: "", severity: "", sort: "urgent" }, flagsOf: {}, gridOf: {} };

  function mapState() { return GV.mapState; }
  function value(id) { var node = document.getElementById(id); return node ? node.value.trim() : ""; }
  function gridTitle(id) { var g = day.gridOf[id]; return g && g.name ? id + " " + g.name : (id || t("patrol.no_grid")); }

  /* ---------------- loading ---------------- */
  function load(date) {
    var seq = ++day.seq, panel = document.getElementById("list-day");
    panel.setAttribute("aria-busy", "true");
    return GV.api("/api/v1/map/day" + GV.query({ date: date || "" })).then(function (data) {
      if (seq !== day.seq) { return; }
      day.data = data;
      day.gridOf = {};
      data.grids.forEach(function (g) { day.gridOf[g.grid_id] = g; });
      day.flagsOf = {};
      data.flags.forEach(function (f) { if (f.patrol_id) { (day.flagsOf[f.patrol_id] = day.flagsOf[f.patrol_id] || []).push(f); } });
      fillDates(data);
      var heatDate = document.getElementById("h-date");
      if (heatDate && !heatDate.value) { heatDate.value = data.date; }
      draw();
      renderPanel();
      if (window.performance && performance.mark) { performance.mark("gv-day-drawn"); }
      document.body.classList.add("day-ready");
    }).catch(function (err) {
      document.getElementById("day-summary").textContent = t("error.generic", { detail: err.detail || String(err) });
    }).then(function () { panel.removeAttribute("aria-busy"); });
  }

  /* The date list: the days that have patrols, latest first (one tab stop; arrows change the day). */
  function fillDates(data) {
    var select = GV.clear(document.getElementById("day-date"));
    var dates = data.dates.indexOf(data.date) < 0 ? [data.date].concat(data.dates).sort().reverse() : data.dates;
    dates.forEach(function (d) { select.appendChild(el("option", { value: d, text: d })); });
    select.value = data.date;
  }

  /* ---------------- the map: grid states, labels, flags ---------------- */
  function ensurePane(map) {
    if (!map.getPane(PANE)) {
      map.createPane(PANE);
      map.getPane(PANE).style.zIndex = 350;  // under the grid outlines and tracks (overlay pane, 400)
      map.getPane(PANE).style.pointerEvents = "none";
    }
  }

  function draw() {
    var st = mapState(), map = st.map;
    ensurePane(map);
    if (day.layer) { map.removeLayer(day.layer); }
    var features = [];
    day.data.grids.forEach(function (g) {
      var known = st.gridsById[g.grid_id];
      if (known) { features.push(L.extend({}, known.feature, { properties: L.extend({}, known.feature.properties, { state: g.state }) })); }
      if (known && !known.layer.gvDay) {
        known.layer.gvDay = true;
        known.layer.on("click", function (event) { openGrid(g.grid_id, event.latlng); });
      }
      var tip = known && known.layer.getTooltip() && known.layer.getTooltip().getElement();
      if (tip) {
        GRID_STATES.forEach(function (s) { tip.classList.remove("grid-state-" + s); });
        tip.classList.add("grid-state-" + g.state);
      }
    });
    day.layer = L.geoJSON({ type: "FeatureCollection", features: features }, { pane: PANE, interactive: false, style: fill })
      .addTo(map);
    if (!day.clusters) {
      day.clusters = new GV.FlagClusters(map, { radiusPx: 36, onFlag: openFlag });
      map.on("moveend", thin);
      map.on("popupopen", function (event) { foldLegendsUnder(map, event.popup); });
    }
    drawFlags();
    renderLegend();
    thin();
  }

  /* Grids keep their state's colour; faint while a patrol's track is drawn over them. */
  function fill(feature) {
    var state = feature.properties.state, faint = Boolean(day.patrolId);
    return { className: "day-state day-state-" + state, stroke: false, fillColor: FILL[state],
             fillOpacity: faint ? 0.18 : state === "none" ? 0.35 : 0.5 };
  }

  /* A legend that would cover an open popup folds away (its title stays, to unfold it). */
  function foldLegendsUnder(map, popup) {
    var node = popup.getElement();
    if (!node) { return; }
    var a = node.getBoundingClientRect();
    map.getContainer().querySelectorAll(".legend:not(.collapsed)").forEach(function (legend) {
      var b = legend.getBoundingClientRect();
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
        legend.classList.add("collapsed");
        var toggle = legend.querySelector(".legend-toggle");
        if (toggle) { toggle.setAttribute("aria-expanded", "false"); }
      }
    });
  }

  function thin() {
    var st = mapState();
    if (!day.data || !st) { return; }
    var entries = Object.keys(st.gridsById).map(function (id, i) {
      var g = day.gridOf[id];
      return { layer: st.gridsById[id].layer, rank: (g ? RANK[g.state] : RANK.none) * 100000 + i };
    });
    GV.thinLabels(st.map, entries);
  }

  function openFlag(flag) {
    if (flag.patrol_id) { GV.mapActions.selectPatrol(flag.patrol_id, flag.flag_id); }
    else { GV.mapActions.openFlag(flag); }
  }

  function openGrid(gridId, latlng) {
    var st = mapState(), known = st.gridsById[gridId];
    var at = latlng || (known ? known.layer.getBounds().getCenter() : null);
    if (!at) { return; }
    L.popup({ className: "grid-popup", maxWidth: 340, minWidth: 220 }).setLatLng(at)
      .setContent(function () { return gridPopup(gridId); }).openOn(st.map);
  }

  function gridPopup(gridId) {
    var g = day.gridOf[gridId] || { state: "none", patrols: 0 }, st = mapState();
    var patrols = day.data.patrols.filter(function (p) { return p.grid_id === gridId; }).sort(urgent);
    var box = el("div", { "class": "grid-popup-body", "data-grid-id": gridId }, [
      el("h3", {}, [gridTitle(gridId) + " ", stateBadge(g.state)]),
      el("p", { "class": "small muted", text: patrols.length ? t("day.grid_patrols", { grid: gridId, n: patrols.length })
        : t("day.grid_none", { grid: gridId }) })
    ]);
    var list = el("ul", { "class": "grid-patrols" });
    patrols.forEach(function (p) {
      list.appendChild(el("li", {}, [el("button", { type: "button", "class": "link-button", "data-patrol-id": p.patrol_id,
        on: { click: function () { st.map.closePopup(); GV.mapActions.selectPatrol(p.patrol_id); } } },
        [p.member_id + " · ", stateBadge(p.state), " · " + fmt.hours(p.verified_s) +
          (p.open_flags ? " · " + t("day.open_flags", { n: p.open_flags }) : "")])]));
    });
    box.appendChild(list);
    box.appendChild(el("button", { type: "button", "class": "secondary small show-grid",
      on: { click: function () { showGridInList(gridId); } } }, [t("day.show_grid")]));
    return box;
  }

  function showGridInList(gridId) {
    var select = document.getElementById("f-grid");
    if (select) { select.value = gridId; }
    day.filter.state = "";
    mapState().map.closePopup();
    var tab = document.getElementById("tab-day");
    if (tab) { tab.click(); }
    renderPanel();
    drawFlags();
    var first = document.querySelector("#day-items .item");
    if (first) { first.focus(); }
  }

  /* ---------------- filters, shared with the filter form ---------------- */
  function patrolPasses(p) {
    var f = day.filter, grid = value("f-grid"), member = value("f-member").toUpperCase();
    if (f.state && f.state !== "none" && p.state !== f.state) { return false; }
    if (grid && p.grid_id !== grid) { return false; }
    if (member && p.member_id.toUpperCase().indexOf(member) < 0) { return false; }
    var code = value("f-code"), status = value("f-status"), sev = f.severity;
    if (!code && !status && !sev) { return true; }
    return (day.flagsOf[p.patrol_id] || []).some(function (flag) { return flagPasses(flag); });
  }

  function flagPasses(flag) {
    var code = value("f-code"), status = value("f-status"), sev = day.filter.severity;
    return (!code || flag.code === code) && (!status || flag.status === status) && (!sev || flag.severity === sev);
  }

  function drawFlags() {
    if (!day.clusters || !day.data) { return; }
    var passing = {};
    day.data.patrols.forEach(function (p) { if (patrolPasses(p)) { passing[p.patrol_id] = true; } });
    var grid = value("f-grid"), member = value("f-member").toUpperCase(), state = day.filter.state;
    day.clusters.setItems(day.data.flags.filter(function (f) {
      if (f.patrol_id === day.patrolId && day.patrolId) { return false; }  // drawn with its track by map.js
      if (f.patrol_id) { return passing[f.patrol_id] && flagPasses(f); }
      return !state && (!grid || f.grid_id === grid) && (!member || String(f.member_id).toUpperCase().indexOf(member) >= 0) &&
        flagPasses(f);
    }));
  }

  function urgent(a, b) {
    return RANK[a.state] - RANK[b.state] || (a.severity ? SEV_RANK[a.severity] : 9) - (b.severity ? SEV_RANK[b.severity] : 9) ||
      b.open_flags - a.open_flags || cmp(a.grid_id, b.grid_id) || cmp(a.member_id, b.member_id);
  }
  function cmp(a, b) { return a === b ? 0 : (a || "") < (b || "") ? -1 : 1; }
  var ORDER = {
    urgent: urgent,
    grid: function (a, b) { return cmp(a.grid_id, b.grid_id) || cmp(a.member_id, b.member_id); },
    member: function (a, b) { return cmp(a.member_id, b.member_id); },
    verified: function (a, b) { return a.verified_s - b.verified_s || urgent(a, b); },
    flags: function (a, b) { return b.open_flags - a.open_flags || b.flags - a.flags || urgent(a, b); }
  };

  /* ---------------- the panel ---------------- */
  function stateBadge(state) {
    return el("span", { "class": "badge state-badge state-" + state, "data-state": state, title: t("state." + state + "_hint"),
      text: t("state." + state) });
  }

  function chip(state, count) {
    var pressed = day.filter.state === state, stop = pressed || (!day.filter.state && state === STATES[0]);
    return el("button", { type: "button", "class": "chip state-" + state, "data-state": state, "data-roving": "",
      tabindex: stop ? "0" : "-1", "aria-pressed": pressed ? "true" : "false", title: t("state." + state + "_hint"),
      on: { click: function () {
        day.filter.state = pressed ? "" : state;
        renderPanel();
        drawFlags();
        var again = document.querySelector("#day-chips .chip[data-state='" + state + "']");
        if (again) { again.focus(); }
      } } },
      [el("span", { "class": "state-swatch state-" + state, "aria-hidden": "true" }), t("state." + state) + " ",
       el("strong", { "class": "chip-count", text: String(count) })]);
  }

  function select(id, labelKey, options, current, onChange) {
    var node = el("select", { id: id, on: { change: function () { onChange(node.value); } } },
      options.map(function (o) { return el("option", { value: o[0], text: o[1], selected: o[0] === current ? true : null }); }));
    return el("label", {}, [el("span", { text: t(labelKey) }), node]);
  }

  function renderPanel() {
    var data = day.data;
    if (!data) { return; }
    var c = data.counts, openFlags = c.open_flags.high + c.open_flags.medium + c.open_flags.low;
    document.getElementById("day-summary").textContent = t("day.summary", { date: data.date, grids: data.grids.length,
      patrols: data.patrols.length, flags: openFlags });
    var back = document.getElementById("day-back");
    back.hidden = !day.patrolId;
    var chips = GV.clear(document.getElementById("day-chips"));
    STATES.forEach(function (s) { chips.appendChild(chip(s, c.patrols[s])); });
    chips.appendChild(chip("none", c.grids.none));
    var controls = GV.clear(document.getElementById("day-controls"));
    controls.appendChild(select("day-severity", "day.severity", [["", t("day.all")]].concat(GV.vocabulary.severities.map(
      function (s) { return [s, fmt.severity(s)]; })), day.filter.severity, function (v) { day.filter.severity = v; renderList(); drawFlags(); }));
    controls.appendChild(select("day-sort", "day.sort", SORTS.map(function (s) { return [s, t("day.sort." + s)]; }),
      day.filter.sort, function (v) { day.filter.sort = v; renderList(); }));
    renderList();
  }

  function renderList() {
    var list = GV.clear(document.getElementById("day-items")), shown = document.getElementById("day-shown");
    var items;
    if (day.filter.state === "none") {
      items = day.data.grids.filter(function (g) { return g.state === "none" && (!value("f-grid") || g.grid_id === value("f-grid")); });
      shown.textContent = t("state.none") + ": " + items.length;
      items.forEach(function (g, i) {
        list.appendChild(el("li", {}, [el("button", { type: "button", "class": "item day-item state-none", "data-grid-id": g.grid_id,
          "data-roving": "", tabindex: i === 0 ? "0" : "-1", on: { click: function () { zoomToGrid(g.grid_id); } } },
          [el("span", { "class": "item-title", text: gridTitle(g.grid_id) }), el("span", { "class": "item-figures" }, [stateBadge("none")])])]));
      });
      return;
    }
    items = day.data.patrols.filter(patrolPasses).sort(ORDER[day.filter.sort] || urgent);
    shown.textContent = t("day.shown", { n: items.length, total: day.data.patrols.length });
    if (!items.length) { list.appendChild(el("li", { "class": "muted", text: t("day.none") })); }
    var selected = items.findIndex(function (p) { return p.patrol_id === day.patrolId; });
    items.forEach(function (p, i) {
      list.appendChild(el("li", {}, [patrolItem(p, i === Math.max(selected, 0))]));
    });
  }

  function patrolItem(p, tabStop) {
    var figures = [stateBadge(p.state), el("span", { text: t("patrol.verified") + " " + fmt.hours(p.verified_s) })];
    if (p.open_flags) {
      figures.push(el("span", { "class": "flag-count sev-" + (p.severity || "low"), text: t("day.open_flags", { n: p.open_flags }) }));
    }
    var sub = p.below.map(function (r) { return t("below." + r); }).concat(p.codes.map(fmt.codeName));
    if (p.pending) { sub.push(t("day.pending")); }
    return el("button", { type: "button", "class": "item day-item state-" + p.state + (p.patrol_id === day.patrolId ? " selected" : ""),
      "data-patrol-id": p.patrol_id, "data-state": p.state, "data-roving": "", tabindex: tabStop ? "0" : "-1",
      on: { click: function () { GV.mapActions.selectPatrol(p.patrol_id); } } }, [
      el("span", { "class": "item-title", text: p.member_id + " · " + gridTitle(p.grid_id) }),
      el("span", { "class": "item-figures" }, figures),
      sub.length ? el("span", { "class": "item-sub", text: sub.join(" · ") }) : null
    ]);
  }

  function zoomToGrid(gridId) {
    var known = mapState().gridsById[gridId];
    if (!known) { return; }
    mapState().map.fitBounds(known.layer.getBounds(), { maxZoom: 16, animate: false });
    openGrid(gridId);
  }

  /* ---------------- the map legend of grid states, with counts ---------------- */
  var DayLegend = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = el("div", { "class": "legend day-legend leaflet-bar", id: "day-legend", role: "group" });
      if (mapState().map.getSize().x < 400) { box.classList.add("collapsed"); }  // the counts stay in sight
      L.DomEvent.disableClickPropagation(box);
      return box;
    }
  });

  function renderLegend() {
    if (!day.legend) { day.legend = new DayLegend().addTo(mapState().map); }
    var box = GV.clear(day.legend.getContainer()), counts = day.data.counts.grids, collapsed = box.classList.contains("collapsed");
    box.setAttribute("aria-label", t("day.legend"));
    box.appendChild(el("button", { type: "button", "class": "legend-toggle", "aria-expanded": collapsed ? "false" : "true",
      title: t("legend.toggle"), on: { click: function () { box.classList.toggle("collapsed"); renderLegend(); } } },
      [t("day.legend") + " · " + day.data.date]));
    var rows = el("ul", { "class": "day-legend-rows" });
    GRID_STATES.forEach(function (s) {
      rows.appendChild(el("li", { "class": "legend-row", "data-state": s, title: t("state." + s + "_hint") }, [
        el("span", { "class": "state-swatch state-" + s, "aria-hidden": "true" }), el("span", { text: t("state." + s) }),
        el("strong", { "class": "legend-count", text: String(counts[s]) })]));
    });
    box.appendChild(rows);
  }

  /* ---------------- wiring ---------------- */
  function onPatrol(event) {
    day.patrolId = event.detail.patrolId;
    if (!day.data) { return; }
    if (day.layer) { day.layer.setStyle(fill); }
    drawFlags();
    document.getElementById("day-back").hidden = !day.patrolId;
    document.querySelectorAll("#day-items .item").forEach(function (node) {
      node.classList.toggle("selected", node.getAttribute("data-patrol-id") === day.patrolId);
    });
  }

  function start() {
    document.getElementById("day-date").addEventListener("change", function (event) {
      if (event.target.value) { load(event.target.value); }
    });
    document.getElementById("day-back").addEventListener("click", function () {
      GV.mapActions.clearPatrol();
      var st = mapState();
      if (st.gridLayer) { st.map.fitBounds(st.gridLayer.getBounds(), { padding: [20, 20], animate: false }); }
      var first = document.querySelector("#day-items .item[tabindex='0']");
      if (first) { first.focus(); }
    });
    var form = document.getElementById("filters");
    ["submit", "change", "reset"].forEach(function (kind) {
      form.addEventListener(kind, function () { setTimeout(function () { if (day.data) { renderList(); drawFlags(); } }, 0); });
    });
    document.addEventListener("gv:grids", function () { load(value("day-date")); });
    document.addEventListener("gv:patrol", onPatrol);
    GV.i18n.onChange(function () {
      if (!day.data) { return; }
      renderPanel();
      renderLegend();
      drawFlags();
      thin();
    });
  }

  GV.day = { load: load, state: day, openGrid: openGrid };
  start();
}());
