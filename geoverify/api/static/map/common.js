/* Shared by the map and report pages: the bearer token (sessionStorage, never a cookie), fetch with
   Authorization, number/time formatting with units, flag evidence as a table, and the Leaflet
   styles of tracks, grids, covered areas and flag markers. */
(function () {
  "use strict";

  var GV = window.GV = window.GV || {};
  var t = GV.i18n.t;
  var TOKEN_KEY = "gv.token";
  var body = document.body;
  /* Flag codes and severities, credit statuses, the overview's states and roles: defined once in the
     library and served with the page (geoverify/api/map.py, VOCABULARY), never listed here. */
  GV.vocabulary = JSON.parse(body.getAttribute("data-vocabulary") || "{}");
  GV.config = {
    tz: body.getAttribute("data-tz"),
    tileUrl: body.getAttribute("data-tile-url") || "",
    tileAttribution: body.getAttribute("data-tile-attribution") || ""
  };

  /* ---- DOM ---- */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) { return; }
      if (key === "text") { node.textContent = value; }
      else if (key === "i18n") { node.setAttribute("data-i18n", value); node.textContent = t(value); }
      else if (key === "on") { Object.keys(value).forEach(function (ev) { node.addEventListener(ev, value[ev]); }); }
      else { node.setAttribute(key, value === true ? "" : value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  GV.el = el;
  GV.clear = function (node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; };

  /* ---- token and API ---- */
  GV.token = {
    get: function () { try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } },
    set: function (value) { window.sessionStorage.setItem(TOKEN_KEY, value); },
    clear: function () { window.sessionStorage.removeItem(TOKEN_KEY); }
  };

  function ApiError(status, detail) {
    this.status = status;
    this.detail = detail;
    this.message = detail;
  }
  ApiError.prototype = Object.create(Error.prototype);
  GV.ApiError = ApiError;

  GV.query = function (params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value !== null && value !== undefined && value !== "") {
        parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
      }
    });
    return parts.length ? "?" + parts.join("&") : "";
  };

  GV.api = function (path, options) {
    var opts = options || {};
    var headers = { "Accept": "application/json, application/geo+json, application/problem+json",
                    "Authorization": "Bearer " + GV.token.get() };
    if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(path, {
      method: opts.method || "GET",
      headers: headers,
      body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
      credentials: "omit",
      cache: "no-store"
    }).catch(function (err) {
      throw new ApiError(0, t("error.network", { detail: err.message }));
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var detail = (data && (data.detail || data.title)) || (response.status + " " + response.statusText);
          var error = new ApiError(response.status, detail);
          error.title = data && data.title;  // problem+json: explain.js words it in the page's language
          error.problem = data;
          if (response.status === 401 && GV.auth.onUnauthorized) { GV.auth.onUnauthorized(error); }
          throw error;
        }
        return data;
      });
    });
  };

  /* Login: the token form in the header; ready(session) runs once a token works. */
  GV.auth = {
    onUnauthorized: null,
    start: function (ready) {
      var form = document.getElementById("token-form");
      var input = document.getElementById("token-input");
      var message = document.getElementById("token-message");
      var who = document.getElementById("session-who");
      var change = document.getElementById("token-change");
      var started = false;

      function showLogin(messageKey) {
        document.body.classList.add("needs-token");
        message.textContent = messageKey ? t(messageKey) : "";
        message.hidden = !messageKey;
        input.value = "";
        input.focus();
      }
      function check() {
        GV.api("/api/v1/map/session").then(function (session) {
          document.body.classList.remove("needs-token");
          document.body.setAttribute("data-role", session.role);
          who.setAttribute("data-role", session.role);
          who.textContent = t("session.as") + ": " + session.name + " (" +
            (GV.i18n.has("role." + session.role) ? t("role." + session.role) : session.role) + ")";
          GV.session = session;
          if (!started) { started = true; ready(session); }
          else if (GV.auth.onSessionChange) { GV.auth.onSessionChange(session); }
        }).catch(function (err) {
          if (err.status === 401) { GV.token.clear(); showLogin("token.invalid"); }
          else if (err.status === 403) { GV.token.clear(); showLogin("token.forbidden"); }
          else {
            showLogin(null);
            message.hidden = false;
            GV.clear(message).appendChild(GV.problem ? GV.problem.node(err) : document.createTextNode(err.detail));
          }
        });
      }
      GV.auth.onUnauthorized = function () { GV.token.clear(); showLogin("token.invalid"); };
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var value = input.value.trim();
        if (!value) { return; }
        GV.token.set(value);
        check();
      });
      // The token in use is kept until another one works: Escape goes back to it (a11y.js).
      change.addEventListener("click", function () { showLogin(null); });
      GV.i18n.onChange(function () { if (GV.session) { who.textContent = t("session.as") + ": " + GV.session.name +
        " (" + (GV.i18n.has("role." + GV.session.role) ? t("role." + GV.session.role) : GV.session.role) + ")"; } });
      if (GV.token.get()) { check(); } else { showLogin(null); }
    }
  };

  /* ---- formatting: numbers always with their unit; times in the configured zone ---- */
  function num(value, digits) {
    return Number(value).toLocaleString(GV.i18n.lang() === "en" ? "en-US" : "zh-CN",
      { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  GV.fmt = {
    num: num,
    hours: function (seconds) { return seconds === null || seconds === undefined ? "–" : num(seconds / 3600, 2) + " " + t("unit.h"); },
    km: function (metres) { return metres === null || metres === undefined ? "–" : num(metres / 1000, 2) + " " + t("unit.km"); },
    m: function (metres) { return num(metres, metres < 10 ? 1 : 0) + " " + t("unit.m"); },
    pct: function (ratio) { return ratio === null || ratio === undefined ? "–" : num(ratio * 100, 1) + " %"; },
    seconds: function (s) {
      if (Math.abs(s) >= 3600) { return num(s / 3600, 2) + " " + t("unit.h"); }
      if (Math.abs(s) >= 120) { return num(s / 60, 1) + " " + t("unit.min"); }
      return num(s, s % 1 ? 1 : 0) + " " + t("unit.s");
    },
    time: function (iso) {
      if (!iso) { return "–"; }
      var date = new Date(iso);
      if (isNaN(date.getTime())) { return String(iso); }
      var parts = {};
      new Intl.DateTimeFormat("en-CA", { timeZone: GV.config.tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" })
        .formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
      return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute + ":" + parts.second;
    },
    clock: function (iso) { return GV.fmt.time(iso).slice(11); },
    span: function (start, end) {
      if (!start) { return "–"; }
      var a = GV.fmt.time(start), b = GV.fmt.time(end);
      return a.slice(0, 10) === b.slice(0, 10) ? a + " – " + b.slice(11) : a + " – " + b;
    },
    zoneLabel: function () {
      var offset = "";
      try {
        var parts = new Intl.DateTimeFormat("en-US", { timeZone: GV.config.tz, timeZoneName: "longOffset" }).formatToParts(new Date());
        parts.forEach(function (p) { if (p.type === "timeZoneName") { offset = p.value.replace("GMT", "UTC"); } });
      } catch (e) { offset = ""; }
      return GV.config.tz + (offset ? " (" + offset + ")" : "");
    },
    codeName: function (code) { return GV.i18n.has("code." + code) ? t("code." + code) : code; },
    creditStatus: function (status) { return GV.i18n.has("status." + status) ? t("status." + status) : status; },
    flagStatus: function (status) { return GV.i18n.has("flagstatus." + status) ? t("flagstatus." + status) : status; },
    severity: function (sev) { return GV.i18n.has("severity." + sev) ? t("severity." + sev) : sev; }
  };

  /* A value of the evidence, with the unit its key names (suffix _m, _s, _kmh, _ratio …). */
  var ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  function evidenceValue(key, value) {
    if (typeof value === "number") {
      if (/_kmh$/.test(key)) { return num(value, 1) + " " + t("unit.kmh"); }
      if (/_mps$/.test(key)) { return num(value, 2) + " m/s"; }
      if (/(_m|^accuracy)$/.test(key)) { return GV.fmt.m(value); }
      if (/_s$|^seconds/.test(key)) { return GV.fmt.seconds(value); }
      if (/(_ratio|_share)$/.test(key)) { return GV.fmt.pct(value); }
      if (/^(lon|lat)$/.test(key)) { return value.toFixed(6) + "°"; }
      return num(value, value % 1 ? 2 : 0);
    }
    if (typeof value === "string" && ISO_TIME.test(value)) { return GV.fmt.time(value); }
    if (typeof value === "boolean") { return value ? "✓" : "✗"; }
    if (value === null || value === undefined) { return "–"; }
    if (typeof value === "string") { return value.length > 80 ? "…" + value.slice(-77) : value; }
    return JSON.stringify(value);
  }

  /* Rows [key, formatted value] of a flag's evidence, nested objects flattened with dots. */
  GV.evidenceRows = function (evidence) {
    var rows = [];
    function walk(prefix, value, depth) {
      if (Array.isArray(value)) {
        if (value.length === 0) { rows.push([prefix, "–"]); return; }
        value.slice(0, 6).forEach(function (item, i) { walk(prefix + "[" + i + "]", item, depth + 1); });
        if (value.length > 6) { rows.push([prefix, "… (" + value.length + ")"]); }
      } else if (value && typeof value === "object" && depth < 4) {
        Object.keys(value).forEach(function (k) { walk(prefix ? prefix + "." + k : k, value[k], depth + 1); });
      } else {
        var leaf = prefix.split(".").pop().replace(/\[\d+\]$/, "");
        rows.push([prefix, evidenceValue(leaf, value)]);
      }
    }
    walk("", evidence || {}, 0);
    return rows;
  };

  GV.evidenceTable = function (evidence) {
    var rows = GV.evidenceRows(evidence).map(function (row) {
      return el("tr", {}, [el("th", { scope: "row", text: row[0] }), el("td", { text: row[1] })]);
    });
    return el("table", { "class": "evidence" }, [el("tbody", {}, rows)]);
  };

  GV.badge = function (kind, value, label) {
    return el("span", { "class": "badge " + kind + "-" + value, "data-status": value, text: label });
  };

  /* ---- Leaflet styles (SVG renderer, styles set as attributes: fine under style-src 'self') ---- */
  GV.style = {
    track: function (part) {
      // open flags: red dashes; dismissed: thin grey dots; confirmed: solid dark red
      return { className: "track track-" + part, weight: { flagged: 5, confirmed: 5, dismissed: 3 }[part] || 3, opacity: 0.9,
               color: { in_grid: "#1a9850", outside: "#7b3294", flagged: "#d7191c", dismissed: "#7b8794",
                        confirmed: "#7f0000" }[part] || "#555",
               dashArray: { flagged: "6 4", dismissed: "2 6" }[part] || null };
    },
    grid: { className: "grid-outline", color: "#2c4a7a", weight: 2, fillColor: "#9fb7d9", fillOpacity: 0.08 },
    gridSelected: { color: "#0b3d91", weight: 3, fillOpacity: 0.12 },
    covered: { className: "covered", stroke: false, fillColor: "#2b83ba", fillOpacity: 0.22 },
    heat: function (ratio) {
      // light yellow → orange → dark red
      var stops = [[255, 255, 178], [254, 204, 92], [253, 141, 60], [240, 59, 32], [189, 0, 38]];
      var x = Math.max(0, Math.min(1, ratio)) * (stops.length - 1);
      var i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
      var rgb = [0, 1, 2].map(function (k) { return Math.round(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])); });
      return { className: "heat-cell", stroke: false, fillColor: "rgb(" + rgb.join(",") + ")", fillOpacity: 0.35 + 0.45 * ratio };
    }
  };

  GV.flagIcon = function (flag, offset) {
    var shift = 18 * (offset || 0);  // the n-th flag on one spot sits n places to the right of the first
    return L.divIcon({
      className: "gv-flag sev-" + flag.severity + " flag-" + flag.status,
      html: "<span class=\"gv-flag-dot\"></span>",
      iconSize: [18, 18],
      iconAnchor: [9 - shift, 9],
      popupAnchor: [shift, -8]
    });
  };

  GV.addBaseLayer = function (map) {
    if (GV.config.tileUrl) {
      L.tileLayer(GV.config.tileUrl, { maxZoom: 19, attribution: GV.config.tileAttribution }).addTo(map);
    } else {
      document.getElementById(map.getContainer().id).classList.add("no-tiles");
    }
  };

  GV.langSwitch = function () {
    var button = document.getElementById("lang-switch");
    button.addEventListener("click", function () { GV.i18n.toggle(); });
    GV.i18n.apply();
  };
}());
