/* The assessment page (/map/assessment): per member and grid over a month or a quarter, from
   GET /api/v1/assessment; sortable columns, totals, overdue sites, CSV and XLSX exports fetched with
   the tab's token (no cookies) and saved from a blob. Its words are added to GV.i18n here. */
(function () {
  "use strict";

  var GV = window.GV;
  var WORDS = {
    "zh-CN": {
      "assessment.title": "考核统计",
      "assessment.filters": "筛选",
      "assessment.kind": "考核期",
      "assessment.kind_month": "月度",
      "assessment.kind_quarter": "季度",
      "assessment.month": "月份",
      "assessment.year": "年份",
      "assessment.quarter": "季度",
      "assessment.export_csv": "导出 CSV",
      "assessment.export_xlsx": "导出 Excel",
      "assessment.caption": "每名网格员每个网格一行，末行为合计。点击列标题排序。",
      "assessment.loading": "加载中…",
      "assessment.summary": "{label}（{from} 至 {to}）· 统计截至 {as_of} · {members} 名网格员 · {grids} 个网格",
      "assessment.empty": "此考核期内没有可显示的网格员。",
      "assessment.total": "合计",
      "assessment.no_grid": "未分配网格",
      "assessment.sort": "按此列排序",
      "assessment.col.member": "网格员",
      "assessment.col.grid": "网格",
      "assessment.col.patrol_days": "巡查天数",
      "assessment.col.days_met": "达标天数",
      "assessment.col.required_h": "每日要求 (小时)",
      "assessment.col.verified_h": "核定时长 (小时)",
      "assessment.col.points": "积分 (已结算)",
      "assessment.col.points_provisional": "待结算积分",
      "assessment.col.site_visits": "走访次数",
      "assessment.col.sites_visited": "本季度已走访点位",
      "assessment.col.visited_share": "本季度走访率",
      "assessment.col.overdue_red": "逾期·红",
      "assessment.col.overdue_yellow": "逾期·黄",
      "assessment.col.overdue_green": "逾期·绿",
      "assessment.overdue_title": "逾期点位",
      "assessment.overdue_none": "没有逾期点位。",
      "assessment.overdue.site": "点位",
      "assessment.overdue.grid": "网格",
      "assessment.overdue.tier": "等级",
      "assessment.overdue.last": "最近走访",
      "assessment.overdue.by": "走访人",
      "assessment.overdue.due": "应走访日期",
      "assessment.overdue.days": "逾期天数",
      "assessment.overdue.never": "{date} 以来未走访",
      "assessment.tier.red": "红（每周）",
      "assessment.tier.yellow": "黄（每两周）",
      "assessment.tier.green": "绿（每月）",
      "assessment.notes": "达标：核定时长不少于网格类型要求的每日时长。积分来自积分台账（已结算的发放减冲销）；待结算积分为尚未结算日期的当前积分。走访率按季度（自 {quarter_from} 起）计。逾期：截至 {as_of}，红色 7 天、黄色 14 天、绿色 30 天内未走访。规则版本 {rules}。",
      "assessment.downloaded": "已下载 {name}",
      "assessment.bad_period": "请选择月份，或年份和季度。"
    },
    "en": {
      "assessment.title": "Assessment",
      "assessment.filters": "Filters",
      "assessment.kind": "Period",
      "assessment.kind_month": "Month",
      "assessment.kind_quarter": "Quarter",
      "assessment.month": "Month",
      "assessment.year": "Year",
      "assessment.quarter": "Quarter",
      "assessment.export_csv": "Export CSV",
      "assessment.export_xlsx": "Export Excel",
      "assessment.caption": "One row per member and grid, totals last. Click a column heading to sort.",
      "assessment.loading": "Loading…",
      "assessment.summary": "{label} ({from} to {to}) · as of {as_of} · {members} members · {grids} grids",
      "assessment.empty": "No members to show in this period.",
      "assessment.total": "Total",
      "assessment.no_grid": "no grid assigned",
      "assessment.sort": "Sort by this column",
      "assessment.col.member": "Member",
      "assessment.col.grid": "Grid",
      "assessment.col.patrol_days": "Patrol days",
      "assessment.col.days_met": "Days meeting the daily time",
      "assessment.col.required_h": "Daily time required (h)",
      "assessment.col.verified_h": "Verified time (h)",
      "assessment.col.points": "Points (ledger)",
      "assessment.col.points_provisional": "Points not yet settled",
      "assessment.col.site_visits": "Site visits",
      "assessment.col.sites_visited": "Sites visited in the quarter",
      "assessment.col.visited_share": "Visited in the quarter",
      "assessment.col.overdue_red": "Overdue red",
      "assessment.col.overdue_yellow": "Overdue yellow",
      "assessment.col.overdue_green": "Overdue green",
      "assessment.overdue_title": "Overdue sites",
      "assessment.overdue_none": "No site is overdue.",
      "assessment.overdue.site": "Site",
      "assessment.overdue.grid": "Grid",
      "assessment.overdue.tier": "Tier",
      "assessment.overdue.last": "Last visit",
      "assessment.overdue.by": "By",
      "assessment.overdue.due": "Due",
      "assessment.overdue.days": "Days overdue",
      "assessment.overdue.never": "none since {date}",
      "assessment.tier.red": "red (weekly)",
      "assessment.tier.yellow": "yellow (fortnightly)",
      "assessment.tier.green": "green (monthly)",
      "assessment.notes": "Days meeting the daily time: verified time at least the grid type's daily time. Points come from the credit ledger (settled grants less reversals); not yet settled: the current credit of days that have not settled. The visited share counts the quarter (from {quarter_from}). Overdue on {as_of}: no visit within 7 days (red), 14 (yellow), 30 (green). Rule version {rules}.",
      "assessment.downloaded": "Downloaded {name}",
      "assessment.bad_period": "Pick a month, or a year and a quarter."
    }
  };
  Object.keys(WORDS).forEach(function (lang) {
    Object.keys(WORDS[lang]).forEach(function (key) { GV.i18n.dictionaries[lang][key] = WORDS[lang][key]; });
  });

  var t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var body = document.body;
  var $ = function (id) { return document.getElementById(id); };
  var state = { report: null, sort: { key: "grid", dir: 1 }, started: false };

  function hours(seconds) { return seconds === null || seconds === undefined ? null : seconds / 3600; }
  function gridLabel(row) { return row.grid_id === null ? t("assessment.no_grid") : row.grid_id + (row.grid_name ? " " + row.grid_name : ""); }
  function count(value) { return value === null || value === undefined ? "–" : fmt.num(value, 0); }
  function points(value) { return fmt.num(value, value % 1 ? 2 : 0); }

  /* key, heading, value to sort by, text of a row (or of the totals, where "total" is true) */
  var COLUMNS = [
    { key: "member", sort: function (r) { return r.member_id; }, text: function (r, total) { return total ? t("assessment.total") : r.member_id; }, numeric: false },
    { key: "grid", sort: function (r) { return (r.grid_id === null ? "\uffff" : r.grid_id) + "\u0000" + r.member_id; },
      text: function (r, total) { return total ? "" : gridLabel(r); }, numeric: false },
    { key: "patrol_days", sort: function (r) { return r.patrol_days; }, text: function (r) { return count(r.patrol_days); } },
    { key: "days_met", sort: function (r) { return r.days_met; }, text: function (r) { return count(r.days_met); } },
    { key: "required_h", sort: function (r) { return r.required_s; },
      text: function (r, total) { return total ? "" : fmt.num(hours(r.required_s), 2); } },
    { key: "verified_h", sort: function (r) { return r.verified_s; }, text: function (r) { return fmt.num(hours(r.verified_s), 2); } },
    { key: "points", sort: function (r) { return r.points; }, text: function (r) { return points(r.points); } },
    { key: "points_provisional", sort: function (r) { return r.points_provisional; }, text: function (r) { return points(r.points_provisional); } },
    { key: "site_visits", sort: function (r) { return r.site_visits; }, text: function (r) { return count(r.site_visits); } },
    { key: "sites_visited", sort: function (r) { return r.sites_visited === null ? -1 : r.sites_visited; },
      text: function (r) { return r.sites_total === null ? "–" : count(r.sites_visited) + " / " + count(r.sites_total); } },
    { key: "visited_share", sort: function (r) { return r.visited_share === null ? -1 : r.visited_share; },
      text: function (r) { return fmt.pct(r.visited_share); } },
    { key: "overdue_red", sort: function (r) { return r.overdue_red === null ? -1 : r.overdue_red; }, text: function (r) { return count(r.overdue_red); } },
    { key: "overdue_yellow", sort: function (r) { return r.overdue_yellow === null ? -1 : r.overdue_yellow; }, text: function (r) { return count(r.overdue_yellow); } },
    { key: "overdue_green", sort: function (r) { return r.overdue_green === null ? -1 : r.overdue_green; }, text: function (r) { return count(r.overdue_green); } }
  ];

  /* ---- period ---- */
  function showKind() {
    var quarter = $("a-kind").value === "quarter";
    $("a-month-field").hidden = quarter;
    $("a-year-field").hidden = !quarter;
    $("a-quarter-field").hidden = !quarter;
    $("a-month").required = !quarter;
    $("a-year").required = quarter;
  }

  function setPeriod(label) {
    var q = /^(\d{4})-Q([1-4])$/.exec(label), m = /^(\d{4})-(\d{2})$/.exec(label);
    if (q) {
      $("a-kind").value = "quarter"; $("a-year").value = q[1]; $("a-quarter").value = "Q" + q[2];
      $("a-month").value = q[1] + "-" + ("0" + (3 * q[2] - 2)).slice(-2);
    } else if (m) {
      $("a-kind").value = "month"; $("a-month").value = label; $("a-year").value = m[1];
      $("a-quarter").value = "Q" + (Math.floor((Number(m[2]) - 1) / 3) + 1);
    }
    showKind();
  }

  function period() {
    if ($("a-kind").value === "quarter") {
      return /^\d{4}$/.test($("a-year").value) ? $("a-year").value + "-" + $("a-quarter").value : "";
    }
    return /^\d{4}-\d{2}$/.test($("a-month").value) ? $("a-month").value : "";
  }

  function params(extra) {
    var p = { period: period(), grid_id: $("a-grid").value, member_id: $("a-member").value.trim() };
    Object.keys(extra || {}).forEach(function (k) { p[k] = extra[k]; });
    return p;
  }

  /* ---- rendering ---- */
  function sortedRows() {
    var col = COLUMNS.filter(function (c) { return c.key === state.sort.key; })[0] || COLUMNS[1];
    return state.report.rows.slice().sort(function (a, b) {
      var x = col.sort(a), y = col.sort(b);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return order * state.sort.dir || (a.member_id < b.member_id ? -1 : a.member_id > b.member_id ? 1 : 0);
    });
  }

  function renderHead() {
    var row = el("tr", {}, COLUMNS.map(function (c) {
      var active = state.sort.key === c.key;
      var th = el("th", { scope: "col", "class": c.numeric === false ? "" : "num",
        "aria-sort": active ? (state.sort.dir > 0 ? "ascending" : "descending") : "none" }, [
        el("button", { type: "button", "class": "sort-button", "data-key": c.key, title: t("assessment.sort"),
          on: { click: function () { sortBy(c.key); } } },
          [t("assessment.col." + c.key), el("span", { "class": "sort-mark", "aria-hidden": "true",
            text: active ? (state.sort.dir > 0 ? " ▲" : " ▼") : "" })])
      ]);
      return th;
    }));
    GV.clear($("a-table").tHead).appendChild(row);
  }

  function cells(row, total) {
    return COLUMNS.map(function (c, i) {
      var attrs = { "class": c.numeric === false ? "" : "num", "data-key": c.key };
      if (i === 0) { attrs.scope = "row"; return el("th", attrs, [c.text(row, total)]); }
      return el("td", attrs, [c.text(row, total)]);
    });
  }

  function renderBody() {
    var tbody = GV.clear($("a-table").tBodies[0]), tfoot = GV.clear($("a-table").tFoot);
    var rows = sortedRows();
    rows.forEach(function (row) {
      tbody.appendChild(el("tr", { "data-member": row.member_id, "data-grid": row.grid_id === null ? "" : row.grid_id }, cells(row, false)));
    });
    if (!rows.length) {
      tbody.appendChild(el("tr", {}, [el("td", { colspan: String(COLUMNS.length), "class": "muted", text: t("assessment.empty") })]));
    }
    tfoot.appendChild(el("tr", { "class": "totals" }, cells(state.report.totals, true)));
  }

  function renderOverdue() {
    var box = GV.clear($("a-overdue-body")), sites = state.report.overdue_sites;
    if (!sites.length) { box.appendChild(el("p", { "class": "muted", text: t("assessment.overdue_none") })); return; }
    var keys = ["site", "grid", "tier", "last", "by", "due", "days"];
    box.appendChild(el("table", { "class": "report-table overdue-table" }, [
      el("thead", {}, [el("tr", {}, keys.map(function (k) { return el("th", { scope: "col", text: t("assessment.overdue." + k) }); }))]),
      el("tbody", {}, sites.map(function (s) {
        return el("tr", { "class": "tier-" + s.tier }, [
          el("th", { scope: "row", text: s.site_id }), el("td", { text: s.grid_id }),
          el("td", {}, [el("span", { "class": "tier-dot tier-" + s.tier, "aria-hidden": "true" }), t("assessment.tier." + s.tier)]),
          el("td", { text: s.last_visit_date || t("assessment.overdue.never", { date: state.report.period.visits_from }) }),
          el("td", { text: s.last_visit_member || "–" }), el("td", { text: s.next_due }),
          el("td", { "class": "num", text: count(s.days_overdue) })
        ]);
      }))
    ]));
  }

  function render() {
    if (!state.report) { return; }
    var r = state.report, p = r.period;
    $("a-summary").textContent = t("assessment.summary", { label: p.label, from: p.from, to: p.to, as_of: p.as_of,
      members: r.totals.members, grids: r.totals.grids });
    $("a-notes").textContent = t("assessment.notes", { quarter_from: p.quarter_from, as_of: p.as_of, rules: r.rule_version });
    renderHead();
    renderBody();
    renderOverdue();
    $("zone-label").textContent = fmt.zoneLabel();
  }

  function sortBy(key) {
    state.sort = { key: key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderHead();
    renderBody();
    var button = $("a-table").querySelector(".sort-button[data-key='" + key + "']");
    if (button) { button.focus(); }
  }

  function fail(err) {
    $("a-message").hidden = false;
    $("a-message").textContent = t("error.generic", { detail: err.detail || String(err) });
  }

  function load() {
    var p = params();
    if (!p.period) { fail({ detail: t("assessment.bad_period") }); return Promise.resolve(); }
    $("a-message").hidden = true;
    $("a-summary").textContent = t("assessment.loading");
    body.classList.remove("assessment-ready");
    var query = GV.query(p);
    try { window.history.replaceState(null, "", window.location.pathname + query); } catch (e) { /* not kept */ }
    return GV.api("/api/v1/assessment" + query).then(function (report) {
      state.report = report;
      render();
      body.classList.add("assessment-ready");
    }).catch(fail);
  }

  /* ---- exports: fetched with the token, saved from a blob ---- */
  function download(format) {
    var p = params({ format: format, lang: GV.i18n.lang() });
    if (!p.period) { fail({ detail: t("assessment.bad_period") }); return; }
    fetch("/api/v1/assessment" + GV.query(p), { headers: { "Authorization": "Bearer " + GV.token.get() },
      credentials: "omit", cache: "no-store" }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (problem) {
          throw new GV.ApiError(response.status, problem.detail || response.status + " " + response.statusText);
        });
      }
      return response.blob().then(function (blob) {
        var name = "assessment-" + p.period + "." + format;
        var url = URL.createObjectURL(blob);
        var link = el("a", { href: url, download: name, hidden: true });
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(url); link.remove(); }, 1000);
        $("a-summary").setAttribute("data-downloaded", name);
      });
    }).catch(fail);
  }

  function loadGrids() {
    return GV.api("/api/v1/grids").then(function (collection) {
      var select = $("a-grid"), members = GV.clear($("a-members")), keep = select.value, seen = {};
      while (select.options.length > 1) { select.remove(1); }
      collection.features.forEach(function (f) {
        var p = f.properties;
        select.appendChild(el("option", { value: p.grid_id, text: p.grid_id + (p.name ? " " + p.name : "") }));
        (p.members || []).forEach(function (m) { if (!seen[m]) { seen[m] = true; members.appendChild(el("option", { value: m })); } });
      });
      select.value = keep;
    });
  }

  function start() {
    var query = new URLSearchParams(window.location.search);
    var today = body.getAttribute("data-today") || new Date().toISOString().slice(0, 10);
    setPeriod(query.get("period") || today.slice(0, 7));
    $("a-member").value = query.get("member_id") || "";
    $("a-kind").addEventListener("change", showKind);
    $("a-form").addEventListener("submit", function (event) { event.preventDefault(); load(); });
    $("a-csv").addEventListener("click", function () { download("csv"); });
    $("a-xlsx").addEventListener("click", function () { download("xlsx"); });
    loadGrids().catch(fail).then(function () {
      $("a-grid").value = query.get("grid_id") || "";
      return load();
    });
  }

  if (/^en/.test(new URLSearchParams(window.location.search).get("lang") || "")) { GV.i18n.setLang("en"); }
  GV.langSwitch();
  GV.i18n.onChange(render);
  GV.auth.onSessionChange = function () { loadGrids().catch(fail).then(load); };
  GV.auth.start(function () {
    if (state.started) { return; }
    state.started = true;
    start();
  });
}());
