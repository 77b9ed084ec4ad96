/* Printable reports: one patrol (/map/report/patrol/<id>) or one member's month
   (/map/report/member/<member>/<YYYY-MM>): a map and the figures, laid out for print. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var body = document.body;
  var kind = body.getAttribute("data-kind");
  var SIMPLIFY_M = { patrol: 2, member: 5 };
  var report = { map: null, layer: null, data: null, built: false };

  function makeMap() {
    var map = L.map("report-map", { zoomControl: false, attributionControl: true, scrollWheelZoom: false,
      fadeAnimation: false });
    map.attributionControl.setPrefix("Leaflet");
    GV.addBaseLayer(map);
    L.control.scale({ metric: true, imperial: false }).addTo(map);
    report.map = map;
    report.layer = L.featureGroup().addTo(map);
  }

  function draw(collection) {
    collection.features.forEach(function (feature) {
      var p = feature.properties;
      if (p.kind === "grid") { L.geoJSON(feature, { style: function () { return GV.style.grid; } }).addTo(report.layer); }
      else if (p.kind === "covered") { L.geoJSON(feature, { style: function () { return GV.style.covered; } }).addTo(report.layer); }
    });
    collection.features.forEach(function (feature) {
      var p = feature.properties;
      if (p.kind === "track") { L.geoJSON(feature, { style: function () { return GV.style.track(p.part); } }).addTo(report.layer); }
      else if (p.kind === "flag" && feature.geometry && feature.geometry.coordinates[0] !== null) {
        var c = feature.geometry.coordinates;
        L.marker([c[1], c[0]], { icon: GV.flagIcon(p), title: fmt.codeName(p.code), interactive: false }).addTo(report.layer);
      }
    });
  }

  function fit() {
    var bounds = report.layer.getBounds();
    if (bounds.isValid()) { report.map.fitBounds(bounds, { padding: [15, 15], maxZoom: 17, animate: false }); }
  }

  function table(headers, rows, className) {
    return el("table", { "class": "report-table " + (className || "") }, [
      el("thead", {}, [el("tr", {}, headers.map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", {}, rows.map(function (row) {
        return el("tr", {}, row.map(function (cell) { return el("td", {}, [cell === null || cell === undefined ? "–" : cell]); }));
      }))
    ]);
  }

  function figures(pairs) {
    var dl = el("dl", { "class": "figures report-figures" });
    pairs.forEach(function (pair) { dl.appendChild(el("dt", { text: pair[0] })); dl.appendChild(el("dd", { text: pair[1] })); });
    return dl;
  }

  /* ---- one patrol ---- */
  function renderPatrol() {
    var d = report.data.detail, cov = d.coverage || {};
    var out = GV.clear(document.getElementById("report-body"));
    document.getElementById("report-heading").textContent = t("report.patrol_heading", { member: d.member_id, date: d.date });
    out.appendChild(el("h3", { text: t("report.figures") }));
    out.appendChild(figures([
      [t("patrol.grid"), d.grid_id || t("patrol.no_grid")],
      [t("patrol.span"), fmt.span(d.start, d.end)],
      [t("patrol.in_grid"), fmt.hours(d.in_grid_s)],
      [t("patrol.verified"), fmt.hours(d.verified_s)],
      [t("patrol.outside"), fmt.hours(d.outside_s)],
      [t("patrol.gap"), fmt.hours(d.gap_s)],
      [t("patrol.distance"), fmt.km(d.distance_m)],
      [t("patrol.coverage"), fmt.pct(cov.area_ratio)],
      [t("patrol.sites"), t("patrol.sites_value", { visited: cov.sites_visited || 0, total: cov.sites_total || 0 })],
      [t("patrol.credit"), fmt.creditStatus(d.credit.status) + " · " + t("patrol.points") + " " + d.credit.points]
    ]));
    out.appendChild(el("h3", { text: t("report.reason") }));
    out.appendChild(GV.explain.list(d, "report-reasons"));  // explain.js: which rule gave or withheld the points
    var flags = (d.flags || []).concat(d.event_flags || []);
    out.appendChild(el("h3", { text: t("report.flags") }));
    if (!flags.length) { out.appendChild(el("p", { "class": "muted", text: t("patrol.no_flags") })); }
    flags.forEach(function (flag) {
      out.appendChild(el("section", { "class": "report-flag sev-" + flag.severity, "data-flag-id": flag.flag_id, "data-code": flag.code }, [
        el("h4", { text: fmt.codeName(flag.code) + " · " + fmt.severity(flag.severity) + " · " + fmt.flagStatus(flag.status) }),
        el("p", { "class": "small", text: t("flag.time") + ": " + fmt.span(flag.start, flag.end) +
          (flag.lon !== undefined && flag.lon !== null ? " · " + t("flag.location") + ": " + Number(flag.lon).toFixed(6) + ", " + Number(flag.lat).toFixed(6) : "") }),
        GV.evidence.table(flag), GV.evidence.raw(flag), GV.evidence.history(flag)  // evidence.js: in words, raw folded
      ]));
    });
  }

  function loadPatrol() {
    var id = body.getAttribute("data-patrol-id");
    return Promise.all([
      GV.api("/api/v1/patrols/" + encodeURIComponent(id)),
      GV.api("/api/v1/map/patrols/" + encodeURIComponent(id) + "/geojson" + GV.query({ simplify_m: SIMPLIFY_M.patrol }))
    ]).then(function (results) {
      report.data = { detail: results[0] };
      draw(results[1]);
      fit();
      renderPatrol();
    });
  }

  /* ---- one member's month ---- */
  function monthRange(month) {
    var y = Number(month.slice(0, 4)), m = Number(month.slice(5, 7));
    var last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return [month + "-01", month + "-" + String(last).padStart(2, "0")];
  }

  function allPatrols(member, range) {
    var found = [];
    function page(offset) {
      return GV.api("/api/v1/patrols" + GV.query({ member_id: member, date_from: range[0], date_to: range[1], offset: offset, limit: 100 }))
        .then(function (p) { found = found.concat(p.patrols); return p.next_offset === null ? found : page(p.next_offset); });
    }
    return page(0);
  }

  function renderMember() {
    var data = report.data, out = GV.clear(document.getElementById("report-body"));
    document.getElementById("report-heading").textContent = t("report.member_heading", { member: data.member, month: data.month });
    if (!data.details.length) { out.appendChild(el("p", { "class": "muted", text: t("report.none") })); return; }
    var sum = { in_grid: 0, verified: 0, distance: 0, points: 0, credited: 0, held: 0 };
    var rows = data.details.map(function (d) {
      sum.in_grid += d.in_grid_s || 0; sum.verified += d.verified_s || 0; sum.distance += d.distance_m || 0;
      sum.points += d.credit.points || 0;
      if (d.credit.points > 0) { sum.credited += 1; }
      if (d.credit.status === "held") { sum.held += 1; }
      var flags = (d.flags || []).concat(d.event_flags || []);
      return [d.date, d.grid_id || t("patrol.no_grid"), fmt.hours(d.in_grid_s), fmt.hours(d.verified_s), fmt.km(d.distance_m),
        fmt.pct((d.coverage || {}).area_ratio),
        t("patrol.sites_value", { visited: (d.coverage || {}).sites_visited || 0, total: (d.coverage || {}).sites_total || 0 }),
        fmt.creditStatus(d.credit.status), String(d.credit.points), GV.explain.short(d) || "–",
        flags.map(function (f) {
          var last = (f.reviews || [])[(f.reviews || []).length - 1];
          return fmt.codeName(f.code) + t("punct.paren", { x: fmt.flagStatus(f.status) + (last ? " · " + last.reviewer : "") });
        }).join(t("punct.comma")) || "–"];
    });
    out.appendChild(el("h3", { text: t("report.totals") }));
    out.appendChild(figures([
      [t("report.patrol_days"), String(data.details.length)],
      [t("patrol.in_grid"), fmt.hours(sum.in_grid)],
      [t("patrol.verified"), fmt.hours(sum.verified)],
      [t("patrol.distance"), fmt.km(sum.distance)],
      [t("patrol.points"), String(sum.points)],
      [t("report.credited_days"), String(sum.credited)],
      [t("report.held_days"), String(sum.held)]
    ]));
    out.appendChild(el("h3", { text: t("report.days") }));
    out.appendChild(table([t("patrol.date"), t("patrol.grid"), t("patrol.in_grid"), t("patrol.verified"), t("patrol.distance"),
      t("patrol.coverage"), t("patrol.sites"), t("patrol.credit"), t("patrol.points"), t("report.reason"), t("patrol.flags")],
      rows, "days"));
    out.appendChild(el("h3", { text: t("report.reviews") }));
    out.appendChild(reviewTable(data.details));
  }

  /* Every review of the month's flags: who decided what, when and why. */
  function reviewTable(details) {
    var rows = [];
    details.forEach(function (d) {
      (d.flags || []).concat(d.event_flags || []).forEach(function (f) {
        (f.reviews || []).forEach(function (rv) {
          rows.push([d.date, fmt.codeName(f.code), t("review.decision." + rv.decision), rv.reviewer, fmt.time(rv.created_at), rv.note]);
        });
      });
    });
    if (!rows.length) { return el("p", { "class": "muted", text: t("review.history_none") }); }
    return table([t("patrol.date"), t("report.review_flag"), t("report.review_decision"), t("report.reviewer"),
      t("report.review_time"), t("report.review_note")], rows, "reviews");
  }

  function loadMember() {
    var member = body.getAttribute("data-member-id"), month = body.getAttribute("data-month");
    return allPatrols(member, monthRange(month)).then(function (list) {
      // At most a month of days: details and simplified tracks, a few requests at a time.
      var details = [], queue = list.slice();
      function worker() {
        var next = queue.shift();
        if (!next) { return Promise.resolve(); }
        return Promise.all([
          GV.api("/api/v1/patrols/" + encodeURIComponent(next.patrol_id)),
          GV.api("/api/v1/map/patrols/" + encodeURIComponent(next.patrol_id) + "/geojson" + GV.query({ simplify_m: SIMPLIFY_M.member }))
        ]).then(function (r) { details.push(r[0]); draw(r[1]); return worker(); });
      }
      return Promise.all([worker(), worker(), worker()]).then(function () {
        details.sort(function (a, b) { return a.date < b.date ? -1 : a.date > b.date ? 1 : 0; });
        report.data = { member: member, month: month, details: details };
        fit();
        renderMember();
      });
    });
  }

  function render() {
    if (!report.data) { return; }
    if (kind === "patrol") { renderPatrol(); } else { renderMember(); }
    document.getElementById("zone-label").textContent = fmt.zoneLabel();
  }

  GV.langSwitch();
  GV.i18n.onChange(render);
  document.getElementById("print").addEventListener("click", function () { window.print(); });
  GV.auth.start(function () {
    if (report.built) { return; }
    report.built = true;
    document.getElementById("report-generated").textContent = fmt.time(new Date().toISOString());
    document.getElementById("zone-label").textContent = fmt.zoneLabel();
    makeMap();
    (kind === "patrol" ? loadPatrol() : loadMember()).then(function () {
      body.classList.add("report-ready");
    }).catch(function (err) {
      var heading = GV.clear(document.getElementById("report-heading"));  // explain.js: in the page's language
      heading.appendChild(GV.problem.node(err, "error"));
    });
  });
}());
