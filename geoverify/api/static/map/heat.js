/* The heat map's place on the map: its own pane above the tracks (cells stay visible over a patrol),
   the view zoomed to the grid it covers, and a legend with the seconds each colour stands for.
   map.js draws the cells and calls GV.heat.shown(map, layer, doc) (layer null: cleared). */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var PANE = "gv-heat";
  var STEPS = [0, 0.25, 0.5, 0.75, 1];
  var current = { map: null, doc: null, control: null };

  function pane(map) {
    if (!map.getPane(PANE)) {
      map.createPane(PANE);
      map.getPane(PANE).style.zIndex = 450;  // above the overlay pane (grids, tracks: 400), below markers (600)
    }
    return PANE;
  }

  function swatchStyle(node, ratio) {
    var style = GV.style.heat(ratio);
    node.style.backgroundColor = style.fillColor;  // CSSOM, not an inline style attribute: allowed by the CSP
    node.style.opacity = String(style.fillOpacity);
  }

  function render(box) {
    GV.clear(box);
    var doc = current.doc;
    if (!doc) { return; }
    var max = doc.properties.max_s || 0;
    box.appendChild(el("strong", { text: t("heat.legend") }));
    var list = el("ol", { "class": "heat-scale" });
    STEPS.forEach(function (ratio) {
      var swatch = el("span", { "class": "heat-swatch", "aria-hidden": "true" });
      swatchStyle(swatch, ratio);
      list.appendChild(el("li", {}, [swatch, el("span", { "class": "heat-value", text: fmt.seconds(ratio * max) })]));
    });
    box.appendChild(list);
    var cell = doc.properties.cell_m;
    box.appendChild(el("p", { "class": "small muted", text: doc.properties.grid_id + " · " + doc.properties.date +
      (cell ? " · " + t("heat.cell_size", { m: fmt.num(cell, cell % 1 ? 1 : 0) }) : "") }));
  }

  var HeatLegend = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd: function () {
      var box = el("div", { "class": "legend heat-legend leaflet-bar", id: "heat-legend", role: "group",
        "aria-label": t("heat.legend") });
      render(box);
      L.DomEvent.disableClickPropagation(box);
      return box;
    }
  });

  function shown(map, layer, doc) {
    current.map = map;
    current.doc = layer ? doc : null;
    if (current.control) { map.removeControl(current.control); current.control = null; }
    if (!layer) { return; }
    current.control = new HeatLegend().addTo(map);
    var grid = GV.mapState && GV.mapState.gridsById[doc.properties.grid_id];  // the whole grid, not only its hot cells
    var bounds = grid ? grid.layer.getBounds() : layer.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18, animate: false }); }
  }

  function failed(err) {
    return t("heat.failed", { detail: (err && (err.detail || err.message)) || String(err) });
  }

  GV.i18n.onChange(function () {
    if (current.control) {
      var box = current.control.getContainer();
      box.setAttribute("aria-label", t("heat.legend"));
      render(box);
    }
  });

  GV.heat = { pane: pane, shown: shown, failed: failed };
}());
