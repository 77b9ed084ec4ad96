/* Keeping a dense map readable: flag markers clustered by their distance on the screen, and grid
   labels thinned so that no label covers another (the most urgent grids keep theirs). */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var SEVERITY_ORDER = {};
  GV.vocabulary.severities.forEach(function (s, i) { SEVERITY_ORDER[s] = i; });
  var LABEL_GAP_PX = 3;

  /* Groups of points within radiusPx of a seed on the screen at the map's zoom. Seeds are taken in
     the order given (put the important ones first); a spatial hash keeps it linear. */
  function clusterPoints(map, points, radiusPx) {
    var zoom = map.getZoom(), buckets = {}, groups = [];
    var projected = points.map(function (point) {
      var xy = map.project(point.latlng, zoom);
      return { point: point, x: xy.x, y: xy.y, taken: false };
    });
    function key(x, y) { return Math.floor(x / radiusPx) + ":" + Math.floor(y / radiusPx); }
    projected.forEach(function (q) { (buckets[key(q.x, q.y)] = buckets[key(q.x, q.y)] || []).push(q); });
    projected.forEach(function (seed) {
      if (seed.taken) { return; }
      seed.taken = true;
      var group = [seed.point], cx = Math.floor(seed.x / radiusPx), cy = Math.floor(seed.y / radiusPx);
      for (var dx = -1; dx <= 1; dx++) {
        for (var dy = -1; dy <= 1; dy++) {
          (buckets[(cx + dx) + ":" + (cy + dy)] || []).forEach(function (q) {
            if (!q.taken && Math.abs(q.x - seed.x) <= radiusPx && Math.abs(q.y - seed.y) <= radiusPx &&
                Math.sqrt((q.x - seed.x) * (q.x - seed.x) + (q.y - seed.y) * (q.y - seed.y)) <= radiusPx) {
              q.taken = true;
              group.push(q.point);
            }
          });
        }
      }
      groups.push(group);
    });
    return groups;
  }
  GV.clusterPoints = clusterPoints;

  function worst(items) {
    return items.reduce(function (best, item) {
      return SEVERITY_ORDER[item.severity] < SEVERITY_ORDER[best] ? item.severity : best;
    }, "low");
  }

  /* A label for a flag marker, in the page's language (never the bare code). */
  GV.flagMarkerLabel = function (flag) {
    return t("day.flag_label", { code: fmt.codeName(flag.code), severity: t("severity.label") + " " + fmt.severity(flag.severity),
      status: fmt.flagStatus(flag.status), member: flag.member_id || "–" });
  };

  /* Flags of a day on the map, clustered while they crowd: options.onFlag(flag) when one is picked. */
  function FlagClusters(map, options) {
    this.map = map;
    this.options = options;
    this.layer = L.layerGroup().addTo(map);
    this.items = [];
    map.on("zoomend", this.redraw, this);
  }

  FlagClusters.prototype.setItems = function (items) {
    this.items = items.filter(function (f) { return f.lat !== null && f.lat !== undefined && f.lon !== null; })
      .sort(function (a, b) { return SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]; });
    this.redraw();
  };

  FlagClusters.prototype.redraw = function () {
    var self = this, map = this.map;
    this.layer.clearLayers();
    var points = this.items.map(function (f) { return { latlng: L.latLng(f.lat, f.lon), flag: f }; });
    clusterPoints(map, points, this.options.radiusPx || 36).forEach(function (group) {
      if (group.length === 1) { self.layer.addLayer(self.single(group[0].flag)); return; }
      self.layer.addLayer(self.cluster(group.map(function (p) { return p.flag; })));
    });
  };

  FlagClusters.prototype.single = function (flag) {
    var self = this;
    var marker = L.marker([flag.lat, flag.lon], { icon: GV.flagIcon(flag), title: GV.flagMarkerLabel(flag),
      keyboard: true, riseOnHover: true });
    marker.on("click", function () { self.options.onFlag(flag); });
    marker.on("add", function () {
      var node = marker.getElement();
      node.setAttribute("data-flag-id", flag.flag_id);
      node.setAttribute("data-code", flag.code);
      node.setAttribute("aria-label", GV.flagMarkerLabel(flag));
      node.classList.add("day-flag");
    });
    return marker;
  };

  FlagClusters.prototype.cluster = function (flags) {
    var self = this, map = this.map, sev = worst(flags.filter(function (f) { return f.status === "open"; }).length ?
      flags.filter(function (f) { return f.status === "open"; }) : flags);
    var lat = 0, lon = 0;
    flags.forEach(function (f) { lat += f.lat; lon += f.lon; });
    var size = flags.length < 10 ? 28 : flags.length < 100 ? 34 : 40;
    var label = t("day.cluster_label", { n: flags.length, severity: fmt.severity(sev) });
    var marker = L.marker([lat / flags.length, lon / flags.length], { keyboard: true, title: label, riseOnHover: true,
      icon: L.divIcon({ className: "gv-cluster sev-" + sev, html: "<span>" + flags.length + "</span>",
                        iconSize: [size, size], iconAnchor: [size / 2, size / 2] }) });
    var bounds = L.latLngBounds(flags.map(function (f) { return [f.lat, f.lon]; }));
    marker.on("click", function () {
      var spread = map.project(bounds.getNorthEast()).distanceTo(map.project(bounds.getSouthWest()));
      if (spread < 2 || map.getZoom() >= map.getMaxZoom() - 1) {
        marker.bindPopup(function () { return self.list(flags); }, { className: "cluster-popup", maxWidth: 320 }).openPopup();
      } else {
        map.fitBounds(bounds.pad(0.3), { maxZoom: Math.min(map.getMaxZoom(), 18), animate: false });
      }
    });
    marker.on("add", function () {
      var node = marker.getElement();
      node.setAttribute("aria-label", label);
      node.setAttribute("data-count", String(flags.length));
    });
    return marker;
  };

  /* Flags at one spot (two reports' flags on one event, say): a list to pick from, each reachable. */
  FlagClusters.prototype.list = function (flags) {
    var self = this;
    return el("div", { "class": "cluster-list" }, [
      el("h3", { text: t("day.flags_here", { n: flags.length }) }),
      el("ul", {}, flags.map(function (flag) {
        return el("li", {}, [el("button", { type: "button", "class": "link-button sev-" + flag.severity,
          "data-flag-id": flag.flag_id, on: { click: function () { self.map.closePopup(); self.options.onFlag(flag); } } },
          [fmt.codeName(flag.code) + " · " + (flag.member_id || "–") + " · " + fmt.clock(flag.start) + " ",
           GV.badge("flag", flag.status, fmt.flagStatus(flag.status))])]);
      }))
    ]);
  };

  GV.FlagClusters = FlagClusters;

  /* Show the labels of entries ({layer, rank}: lower rank first) that fit without covering one
     another or leaving the view; hide the rest. */
  GV.thinLabels = function (map, entries) {
    var size = map.getSize(), placed = [], measured = [];
    entries.slice().sort(function (a, b) { return a.rank - b.rank; }).forEach(function (entry) {
      var tip = entry.layer.getTooltip && entry.layer.getTooltip(), node = tip && tip.getElement();
      if (!node || !tip.getLatLng()) { return; }
      var p = map.latLngToContainerPoint(tip.getLatLng());
      measured.push({ node: node, x: p.x, y: p.y, w: node.offsetWidth, h: node.offsetHeight });
    });
    measured.forEach(function (m) {
      var box = [m.x - m.w / 2 - LABEL_GAP_PX, m.y - m.h / 2 - LABEL_GAP_PX, m.x + m.w / 2 + LABEL_GAP_PX,
                 m.y + m.h / 2 + LABEL_GAP_PX];
      var inView = box[2] > 0 && box[3] > 0 && box[0] < size.x && box[1] < size.y;
      var free = inView && placed.every(function (o) { return box[2] <= o[0] || box[0] >= o[2] || box[3] <= o[1] || box[1] >= o[3]; });
      if (free) { placed.push(box); }
      m.node.classList.toggle("label-hidden", !free);
    });
    return placed.length;
  };
}());
