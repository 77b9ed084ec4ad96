/* The map page: grids, one patrol at a time (track in-grid / outside / flagged, covered area, flag
   markers with evidence and review), paged patrol and flag lists with filters, a day heat map. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var PAGE = 20;
  var SIMPLIFY_M = 2;
  var CODES = GV.vocabulary.flag_codes;

  var state = {
    map: null, gridLayer: null, gridsById: {}, patrolLayer: null, heatLayer: null, legend: null,
    filters: {}, tab: "patrols",
    patrols: { offset: 0, page: null }, flags: { offset: 0, page: null },
    patrolId: null, detail: null, geojson: null, markers: {}, openFlagId: null, heat: null,
    requestSeq: 0
  };

  function toast(text, isError) {
    var node = document.getElementById("toast");
    if (typeof text === "string") { node.textContent = text; } else { GV.clear(node).appendChild(text); }
    node.className = "toast" + (isError ? " error" : "");
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { node.hidden = true; }, 6000);
  }

  function fail(err) {
    if (GV.problem && err && typeof err.status === "number") { toast(GV.problem.node(err), true); return; }  // explain.js
    toast(err && err.detail ? t("error.generic", { detail: err.detail }) : String(err), true);
  }

  /* ---------------- map and grids ---------------- */
  function createMap() {
    // No fade: a popup is whole the moment it opens (and gone the moment it closes).
    var map = L.map("map", { zoomControl: true, preferCanvas: false, attributionControl: true, fadeAnimation: false });
    map.on("zoomend", function () { map.getContainer().classList.toggle("zoom-low", map.getZoom() < 16); });
    map.attributionControl.setPrefix("Leaflet");
    GV.addBaseLayer(map);
    L.control.scale({ metric: true, imperial: false }).addTo(map);
    map.setView([39.94, 116.415], 15);
    state.map = map;
    state.patrolLayer = L.featureGroup().addTo(map);
    addLegend();
  }

  function addLegend() {
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var box = el("div", { "class": "legend leaflet-bar", id: "legend" });
        if (state.map.getSize().x < 640) { box.classList.add("collapsed"); }  // a narrow map: keep the track visible
        renderLegend(box);
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    state.legend = new Legend().addTo(state.map);
  }

  function renderLegend(box) {
    GV.clear(box);
    var collapsed = box.classList.contains("collapsed");
    box.appendChild(el("button", { type: "button", "class": "legend-toggle", "aria-expanded": collapsed ? "false" : "true",
      title: t("legend.toggle"), on: { click: function () { box.classList.toggle("collapsed"); renderLegend(box); } } },
      [t("legend.title")]));
    [["swatch-in-grid", "legend.in_grid"], ["swatch-outside", "legend.outside"], ["swatch-flagged", "legend.flagged"],
     ["swatch-dismissed", "legend.dismissed"], ["swatch-confirmed", "legend.confirmed"],
     ["swatch-covered", "legend.covered"], ["swatch-grid", "legend.grid"], ["swatch-flag", "legend.flag"],
     ["swatch-heat", "legend.heat"]].forEach(function (row) {
      box.appendChild(el("div", { "class": "legend-row" }, [el("span", { "class": "swatch " + row[0] }), el("span", { i18n: row[1] })]));
    });
  }

  function loadGrids() {
    return GV.api("/api/v1/grids").then(function (collection) {
      state.gridsById = {};
      state.gridLayer = L.geoJSON(collection, {
        style: function () { return GV.style.grid; },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          state.gridsById[p.grid_id] = { feature: feature, layer: layer };
          // A node, not an HTML string: grid names are uploaded data.
          var label = el("span", {}, [el("span", { "class": "grid-id", text: p.grid_id }),
            p.name ? el("span", { "class": "grid-name", text: p.name }) : null]);
          layer.bindTooltip(label, { permanent: true, direction: "center", className: "grid-label", interactive: false });
        }
      }).addTo(state.map);
      state.gridLayer.bringToBack();
      if (collection.features.length) { state.map.fitBounds(state.gridLayer.getBounds(), { padding: [20, 20], animate: false }); }
      document.querySelectorAll(".grid-select").forEach(function (select) {
        var keep = select.value;
        while (select.options.length > 1) { select.remove(1); }
        collection.features.forEach(function (f) {
          var p = f.properties;
          select.appendChild(el("option", { value: p.grid_id, text: p.grid_id + (p.name ? " " + p.name : "") }));
        });
        select.value = keep;
      });
      var heatGrid = document.getElementById("h-grid");
      if (!heatGrid.value && collection.features.length) { heatGrid.value = collection.features[0].properties.grid_id; }
      document.dispatchEvent(new CustomEvent("gv:grids"));  // the day overview (overview.js) colours them
    });
  }

  function gridName(gridId) {
    var g = gridId && state.gridsById[gridId];
    return g && g.feature.properties.name ? gridId + " " + g.feature.properties.name : (gridId || t("patrol.no_grid"));
  }

  /* ---------------- filters and lists ---------------- */
  function readFilters() {
    state.filters = {
      grid_id: document.getElementById("f-grid").value,
      member_id: document.getElementById("f-member").value.trim(),
      date_from: document.getElementById("f-from").value,
      date_to: document.getElementById("f-to").value,
      code: document.getElementById("f-code").value,
      status: document.getElementById("f-status").value
    };
  }

  function pager(which, page, reload) {
    var total = page.total, from = total ? page.offset + 1 : 0, to = page.offset + page.items.length;
    var prev = el("button", { type: "button", "class": "secondary pager-prev", disabled: page.offset <= 0 ? true : null,
      on: { click: function () { state[which].offset = Math.max(0, page.offset - PAGE); reload(); } } }, [t("list.prev")]);
    var next = el("button", { type: "button", "class": "secondary pager-next", disabled: page.next_offset === null ? true : null,
      on: { click: function () { state[which].offset = page.next_offset; reload(); } } }, [t("list.next")]);
    return el("div", { "class": "pager" }, [prev, el("span", { "class": "pager-range", text: t("list.range", { from: from, to: to, total: total }) }), next]);
  }

  function loadPatrols() {
    var f = state.filters, box = document.getElementById("list-patrols");
    box.setAttribute("aria-busy", "true");
    return GV.api("/api/v1/patrols" + GV.query({ grid_id: f.grid_id, member_id: f.member_id, date_from: f.date_from,
      date_to: f.date_to, offset: state.patrols.offset, limit: PAGE })).then(function (page) {
      state.patrols.page = { items: page.patrols, total: page.total, offset: page.offset, next_offset: page.next_offset };
      renderPatrols();
      var heatDate = document.getElementById("h-date");
      if (!heatDate.value && page.patrols.length) { heatDate.value = page.patrols[0].date; }
    }).catch(fail).then(function () { box.removeAttribute("aria-busy"); });
  }

  function renderPatrols() {
    var box = GV.clear(document.getElementById("list-patrols")), page = state.patrols.page;
    if (!page) { return; }
    if (!page.items.length) { box.appendChild(el("p", { "class": "muted", i18n: "list.empty" })); }
    var list = el("ul", { "class": "items" });
    page.items.forEach(function (p) {
      var item = el("button", { type: "button", "class": "item patrol-item" + (p.patrol_id === state.patrolId ? " selected" : ""),
        "data-patrol-id": p.patrol_id, on: { click: function () { selectPatrol(p.patrol_id); } } }, [
        el("span", { "class": "item-title", text: p.member_id + " · " + p.date }),
        el("span", { "class": "item-sub", text: gridName(p.grid_id) }),
        el("span", { "class": "item-figures" }, [
          el("span", { text: t("patrol.verified") + " " + fmt.hours(p.verified_s) }),
          GV.badge("credit", p.credit.status, fmt.creditStatus(p.credit.status)),
          p.flags ? el("span", { "class": "flag-count", text: t("list.flags_count", { n: p.flags }) }) : null
        ]),
        GV.explain ? el("span", { "class": "item-reason", text: GV.explain.short(p) }) : null
      ]);
      list.appendChild(el("li", {}, [item]));
    });
    box.appendChild(list);
    box.appendChild(pager("patrols", page, loadPatrols));
  }

  function loadFlags() {
    var f = state.filters, box = document.getElementById("list-flags");
    box.setAttribute("aria-busy", "true");
    return GV.api("/api/v1/flags" + GV.query({ grid_id: f.grid_id, member_id: f.member_id, code: f.code, status: f.status,
      date_from: f.date_from, date_to: f.date_to, offset: state.flags.offset, limit: PAGE })).then(function (page) {
      state.flags.page = { items: page.flags, total: page.total, offset: page.offset, next_offset: page.next_offset };
      renderFlags();
    }).catch(fail).then(function () { box.removeAttribute("aria-busy"); });
  }

  function renderFlags() {
    var box = GV.clear(document.getElementById("list-flags")), page = state.flags.page;
    if (!page) { return; }
    if (!page.items.length) { box.appendChild(el("p", { "class": "muted", i18n: "list.empty" })); }
    var list = el("ul", { "class": "items" });
    page.items.forEach(function (flag) {
      var item = el("button", { type: "button", "class": "item flag-item sev-" + flag.severity, "data-flag-id": flag.flag_id,
        "data-code": flag.code, on: { click: function () { openFlag(flag); } } }, [
        el("span", { "class": "item-title", text: fmt.codeName(flag.code) + " (" + flag.code + ")" }),
        el("span", { "class": "item-sub", text: (flag.member_id || "–") + " · " + (flag.date || "") + " · " + (flag.grid_id || "") }),
        el("span", { "class": "item-figures" }, [
          GV.badge("severity", flag.severity, t("severity.label") + " " + fmt.severity(flag.severity)),
          GV.badge("flag", flag.status, fmt.flagStatus(flag.status))
        ])
      ]);
      list.appendChild(el("li", {}, [item]));
    });
    box.appendChild(list);
    box.appendChild(pager("flags", page, loadFlags));
  }

  function openFlag(flag) {
    if (flag.patrol_id) { selectPatrol(flag.patrol_id, flag.flag_id); return; }
    // An event flag with no patrol: show it alone.
    if (flag.lat === null || flag.lat === undefined) { return; }
    var marker = L.marker([flag.lat, flag.lon], { icon: GV.flagIcon(flag) }).addTo(state.patrolLayer);
    marker.bindPopup(function () { return flagPopup(flag, null); }, { maxWidth: 380, className: "flag-popup" }).openPopup();
    state.map.setView([flag.lat, flag.lon], 17, { animate: false });
  }

  function switchTab(tab) {
    state.tab = tab;
    ["patrols", "flags"].forEach(function (name) {
      var button = document.getElementById("tab-" + name);
      button.classList.toggle("active", name === tab);
      button.setAttribute("aria-selected", name === tab ? "true" : "false");
      document.getElementById("list-" + name).hidden = name !== tab;
    });
  }

  /* ---------------- one patrol ---------------- */
  function selectPatrol(patrolId, flagId) {
    var seq = ++state.requestSeq;
    state.patrolId = patrolId;
    document.querySelectorAll(".patrol-item").forEach(function (node) {
      node.classList.toggle("selected", node.getAttribute("data-patrol-id") === patrolId);
    });
    return Promise.all([
      GV.api("/api/v1/patrols/" + encodeURIComponent(patrolId)),
      GV.api("/api/v1/map/patrols/" + encodeURIComponent(patrolId) + "/geojson" + GV.query({ simplify_m: SIMPLIFY_M }))
    ]).then(function (results) {
      if (seq !== state.requestSeq) { return; }
      state.detail = results[0];
      state.geojson = results[1];
      drawPatrol(flagId === undefined);
      renderPanel();
      document.dispatchEvent(new CustomEvent("gv:patrol", { detail: { patrolId: patrolId } }));
      if (flagId) { openFlagPopup(flagId); }
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#patrol=" + encodeURIComponent(patrolId));
      }
    }).catch(fail);
  }

  function drawPatrol(fit) {
    var layer = state.patrolLayer, doc = state.geojson;
    layer.clearLayers();
    state.markers = {};
    doc.features.forEach(function (feature) {
      var p = feature.properties;
      if (p.kind === "covered") {
        L.geoJSON(feature, { style: function () { return GV.style.covered; }, interactive: false }).addTo(layer);
      }
    });
    doc.features.forEach(function (feature) {
      var p = feature.properties;
      if (p.kind === "track") {
        L.geoJSON(feature, { style: function () { return GV.style.track(p.part); } })
          .bindTooltip(function () { return t("legend." + p.part); }, { sticky: true }).addTo(layer);
      }
    });
    var spots = {};  // flags on one spot (two flags of one event report) are set side by side, each clickable
    doc.features.forEach(function (feature) {
      var p = feature.properties;
      var coords = feature.geometry && feature.geometry.coordinates;
      if (p.kind !== "flag" || !coords || coords[0] === null || coords[1] === null) { return; }  // a flag with no place
      var spot = coords[0].toFixed(6) + "," + coords[1].toFixed(6);
      spots[spot] = (spots[spot] || 0) + 1;
      var label = GV.flagMarkerLabel ? GV.flagMarkerLabel(L.extend({ member_id: doc.properties.member_id }, p)) : p.code;
      var marker = L.marker([coords[1], coords[0]], { icon: GV.flagIcon(p, spots[spot] - 1), title: label, riseOnHover: true,
        keyboard: true, alt: label });
      marker.bindPopup(function () { return flagPopup(p, state.detail); },
        { maxWidth: 380, minWidth: 260, className: "flag-popup", autoPanPadding: [30, 30] });
      marker.on("popupopen", function () { state.openFlagId = p.flag_id; });
      marker.on("popupclose", function () { if (state.openFlagId === p.flag_id) { state.openFlagId = null; } });
      marker.addTo(layer);
      marker.getElement().setAttribute("data-flag-id", p.flag_id);
      marker.getElement().setAttribute("data-code", p.code);
      marker.getElement().setAttribute("aria-label", label);
      state.markers[p.flag_id] = marker;
    });
    Object.keys(state.gridsById).forEach(function (id) {
      var selected = id === doc.properties.grid_id;
      state.gridsById[id].layer.setStyle(selected ? L.extend({}, GV.style.grid, GV.style.gridSelected) : GV.style.grid);
    });
    if (fit) {
      var bounds = layer.getBounds();
      if (bounds.isValid()) { state.map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17, animate: false }); }
    }
  }

  function openFlagPopup(flagId) {
    var marker = state.markers[flagId];
    if (!marker) { return; }
    state.map.setView(marker.getLatLng(), Math.max(state.map.getZoom(), 16), { animate: false });
    marker.openPopup();
  }

  function figure(labelKey, value, id) {
    return [el("dt", { i18n: labelKey }), el("dd", { id: id || null, text: value })];
  }

  function renderPanel() {
    var d = state.detail, box = GV.clear(document.getElementById("patrol-panel"));
    if (!d) { box.appendChild(el("p", { "class": "muted", i18n: "patrol.none" })); return; }
    var cov = d.coverage || {};
    var dl = el("dl", { "class": "figures", id: "patrol-figures", "data-patrol-id": d.patrol_id });
    [].concat(
      figure("patrol.member", d.member_id),
      figure("patrol.date", d.date),
      figure("patrol.grid", gridName(d.grid_id)),
      figure("patrol.span", fmt.span(d.start, d.end)),
      figure("patrol.in_grid", fmt.hours(d.in_grid_s), "fig-in-grid"),
      figure("patrol.verified", fmt.hours(d.verified_s), "fig-verified"),
      figure("patrol.outside", fmt.hours(d.outside_s)),
      figure("patrol.gap", fmt.hours(d.gap_s)),
      figure("patrol.distance", fmt.km(d.distance_m)),
      figure("patrol.coverage", fmt.pct(cov.area_ratio), "fig-coverage"),
      figure("patrol.sites", t("patrol.sites_value", { visited: cov.sites_visited || 0, total: cov.sites_total || 0 }), "fig-sites")
    ).forEach(function (node) { dl.appendChild(node); });
    dl.appendChild(el("dt", { i18n: "patrol.credit" }));
    dl.appendChild(el("dd", {}, [el("span", { id: "credit-status", "class": "badge credit-" + d.credit.status,
      "data-status": d.credit.status, text: fmt.creditStatus(d.credit.status) }),
      " ", el("span", { id: "credit-points", text: t("patrol.points") + " " + d.credit.points })]));
    box.appendChild(dl);
    if (GV.explain) { box.appendChild(GV.explain.list(d, "credit-reasons")); }  // explain.js: why these points

    var flags = (d.flags || []).concat(d.event_flags || []);
    box.appendChild(el("h3", { i18n: "patrol.flags" }));
    if (!flags.length) { box.appendChild(el("p", { "class": "muted", i18n: "patrol.no_flags" })); }
    var list = el("ul", { "class": "panel-flags" });
    flags.forEach(function (flag) {
      list.appendChild(el("li", {}, [el("button", { type: "button", "class": "link-button sev-" + flag.severity,
        "data-flag-id": flag.flag_id, on: { click: function () { openFlagPopup(flag.flag_id); } } }, [
        fmt.codeName(flag.code) + " · " + fmt.clock(flag.start) + " · ",
        GV.badge("flag", flag.status, fmt.flagStatus(flag.status))]),
        GV.evidence && (flag.reviews || []).length ? el("span", { "class": "flag-decision muted small", text: GV.evidence.lastDecision(flag) }) : null]));
    });
    box.appendChild(list);
    if (state.geojson && state.geojson.properties.simplify_m) {
      box.appendChild(el("p", { "class": "muted small", text: t("patrol.simplified", { m: state.geojson.properties.simplify_m }) }));
    }
    var month = d.date.slice(0, 7);
    box.appendChild(el("p", { "class": "report-links" }, [
      el("a", { id: "patrol-report-link", href: "/map/report/patrol/" + encodeURIComponent(d.patrol_id), i18n: "patrol.report" }),
      el("a", { id: "member-report-link", href: "/map/report/member/" + encodeURIComponent(d.member_id) + "/" + month, i18n: "patrol.member_report" })
    ]));
  }

  /* ---------------- flag popup and review ---------------- */
  function flagPopup(flag, patrol) {
    var box = el("div", { "class": "flag-popup-body", "data-flag-id": flag.flag_id, "data-code": flag.code });
    box.appendChild(el("h3", {}, [fmt.codeName(flag.code) + " ", el("code", { text: flag.code })]));
    var meta = el("dl", { "class": "flag-meta" });
    [[t("severity.label"), GV.badge("severity", flag.severity, fmt.severity(flag.severity))],
     [t("flag.status"), GV.badge("flag", flag.status, fmt.flagStatus(flag.status))],
     [t("flag.time"), fmt.span(flag.start, flag.end)],
     [t("flag.member"), patrol ? patrol.member_id + " · " + patrol.date : (flag.member_id || "–")]
    ].concat(flag.event_id ? [[t("flag.event"), flag.event_id]] : []).forEach(function (row) {
      meta.appendChild(el("dt", { text: row[0] }));
      meta.appendChild(el("dd", {}, [row[1]]));
    });
    box.appendChild(meta);
    // review.js and evidence.js: the note and decisions first, then the evidence in words, the raw fields folded
    box.appendChild(GV.review.form(flag, { onDone: function (result, decision, overturned) {
      toast(GV.review.doneText(result, overturned));
      document.dispatchEvent(new CustomEvent("gv:reviewed", { detail: { flagId: flag.flag_id } }));
      return Promise.all([state.patrolId ? selectPatrol(state.patrolId, flag.flag_id) : null, loadPatrols(), loadFlags()]);
    } }));
    box.appendChild(el("h4", { i18n: "flag.evidence" }));
    box.appendChild(GV.evidence.table(flag));
    box.appendChild(GV.evidence.raw(flag));
    return box;
  }

  /* ---------------- heat map ---------------- */
  function showHeat(event) {
    if (event) { event.preventDefault(); }
    var grid = document.getElementById("h-grid").value, date = document.getElementById("h-date").value;
    var cell = document.getElementById("h-cell").value, message = document.getElementById("heat-message");
    if (!grid || !date) { message.textContent = t("heat.need_grid"); return; }
    GV.api("/api/v1/map/heatmap" + GV.query({ grid_id: grid, date: date, cell_m: cell })).then(function (doc) {
      clearHeat();
      state.heat = doc;
      var max = doc.properties.max_s || 1;
      state.heatLayer = L.geoJSON(doc, {
        pane: GV.heat ? GV.heat.pane(state.map) : "overlayPane",
        style: function (feature) { return GV.style.heat(feature.properties.seconds / max); },
        onEachFeature: function (feature, layer) { layer.bindTooltip(fmt.seconds(feature.properties.seconds)); }
      }).addTo(state.map);
      if (GV.heat) { GV.heat.shown(state.map, state.heatLayer, doc); }
      renderHeatSummary();
    }).catch(function (err) {
      message.textContent = GV.heat ? GV.heat.failed(err) : err.detail || String(err);
      message.classList.add("error");
    });
  }

  function renderHeatSummary() {
    var message = document.getElementById("heat-message"), doc = state.heat;
    if (!doc) { message.textContent = ""; return; }
    message.textContent = doc.features.length ? t("heat.summary", { grid: doc.properties.grid_id, date: doc.properties.date,
      total: fmt.hours(doc.properties.total_s), max: fmt.seconds(doc.properties.max_s) }) : t("heat.empty");
  }

  function clearHeat() {
    if (state.heatLayer) { state.map.removeLayer(state.heatLayer); }
    state.heatLayer = null;
    state.heat = null;
    if (GV.heat) { GV.heat.shown(state.map, null, null); }
    document.getElementById("heat-message").textContent = "";
    document.getElementById("heat-message").classList.remove("error");
  }

  /* ---------------- language ---------------- */
  function relabel() {
    renderPatrols();
    renderFlags();
    renderPanel();
    renderHeatSummary();
    document.getElementById("zone-label").textContent = fmt.zoneLabel();
    if (state.legend) { renderLegend(state.legend.getContainer()); }
    document.querySelectorAll("#f-code option[value]").forEach(function (option) {
      if (option.value) { option.textContent = fmt.codeName(option.value) + " (" + option.value + ")"; }
    });
    // Popups and tooltips take their content from functions: update() re-renders them in the new language.
    if (state.openFlagId && state.markers[state.openFlagId]) { state.markers[state.openFlagId].getPopup().update(); }
  }

  /* ---------------- start ---------------- */
  function start() {
    createMap();
    var code = document.getElementById("f-code");
    CODES.forEach(function (c) { code.appendChild(el("option", { value: c, text: fmt.codeName(c) + " (" + c + ")" })); });
    document.getElementById("zone-label").textContent = fmt.zoneLabel();
    document.getElementById("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      readFilters();
      state.patrols.offset = 0;
      state.flags.offset = 0;
      loadPatrols();
      loadFlags();
    });
    document.getElementById("filters").addEventListener("reset", function () {
      setTimeout(function () { document.getElementById("filters").requestSubmit(); }, 0);
    });
    document.getElementById("tab-patrols").addEventListener("click", function () { switchTab("patrols"); });
    document.getElementById("tab-flags").addEventListener("click", function () { switchTab("flags"); });
    document.getElementById("heat-form").addEventListener("submit", showHeat);
    document.getElementById("h-clear").addEventListener("click", clearHeat);
    GV.i18n.onChange(relabel);
    readFilters();
    var wanted = /patrol=([^&]+)/.exec(window.location.hash);
    loadGrids().catch(fail).then(function () {
      return Promise.all([loadPatrols(), loadFlags()]);
    }).then(function () {
      if (wanted) { selectPatrol(decodeURIComponent(wanted[1])); }
      if (window.performance && performance.mark) { performance.mark("gv-map-ready"); }
      document.body.classList.add("map-ready");
    });
  }

  function clearPatrol() {
    state.requestSeq++;
    state.patrolId = null; state.detail = null; state.geojson = null; state.openFlagId = null; state.markers = {};
    state.patrolLayer.clearLayers();
    Object.keys(state.gridsById).forEach(function (id) { state.gridsById[id].layer.setStyle(GV.style.grid); });
    renderPanel();
    document.dispatchEvent(new CustomEvent("gv:patrol", { detail: { patrolId: null } }));
  }
  GV.mapActions = { selectPatrol: selectPatrol, openFlag: openFlag, clearPatrol: clearPatrol, toast: toast,
    reloadLists: function () { return Promise.all([loadPatrols(), loadFlags()]); } };

  GV.langSwitch();
  GV.auth.onSessionChange = function () {
    // Another token: reload everything it may see.
    state.patrolId = null; state.detail = null; state.geojson = null;
    state.patrolLayer.clearLayers();
    clearHeat();
    if (state.gridLayer) { state.map.removeLayer(state.gridLayer); state.gridLayer = null; }
    loadGrids().catch(fail).then(function () { loadPatrols(); loadFlags(); renderPanel(); });
  };
  GV.auth.start(function () {
    if (state.map) { return; }
    start();
  });
  GV.mapState = state;
}());
