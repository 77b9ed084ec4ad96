/* A flag's evidence for people: one row per figure, in the page's language, with its unit and the
   threshold it crossed ("最高速度 1,052.7 km/h > 阈值 150 km/h"); the raw fields stay available in a
   fold. Also the review history of a flag. Used by the map page (popup, queue) and the reports. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;

  /* Row kinds: kmh, m, s, pct, n (count), mps, point ({lon, lat, source, line}), where ({source, line}),
     time, text, list, bool, enum (words "ev.<key>.<value>"), limit (a threshold on its own). A row may
     compare its value with another field: cmp (">", "≥", "<", "≤") and limit (that field's key). */
  function r(key, kind, cmp, limit) { return { key: key, kind: kind, cmp: cmp || null, limit: limit || null }; }
  var STAY = [r("duration_s", "s", "≥", "min_duration_s"), r("radius_m", "m"), r("rms_radius_m", "m"),
    r("radius_limit_m", "limit"), r("path_length_m", "m"), r("still_share", "pct"), r("median_motion_mps", "mps"),
    r("still_mps", "limit"), r("median_accuracy_m", "m"), r("fixes", "n"), r("centre", "point"),
    r("excluded_in_grid_s", "s")];
  var SPECS = {
    TELEPORT: [r("max_speed_kmh", "kmh", ">", "teleport_kmh"), r("adjusted_distance_m", "m", "≥", "teleport_min_m"),
      r("distance_m", "m"), r("duration_s", "s"), r("continued_s", "s", ">", "glitch_max_s"), r("from", "point"),
      r("to", "point"), r("segments", "n"), r("excluded_s", "s")],
    GPS_OUTLIER: [r("reason", "enum"), r("speed_kmh", "kmh", ">", "teleport_kmh"), r("max_distance_m", "m"),
      r("duration_s", "s", "≤", "glitch_max_s"), r("fixes", "n"), r("accuracy_m", "m"), r("last_good_fix", "point"),
      r("first_good_fix", "point"), r("first_fix", "where"), r("last_fix", "where"),
      r("dropped_from_geometry", "bool"), r("uncounted_s", "s")],
    GAP: [r("duration_s", "s", ">", "max_gap_s"), r("last_fix_before", "point"), r("first_fix_after", "point")],
    IDLE: STAY,
    LOOP: STAY,
    VEHICLE: [r("fast_s", "s", "≥", "vehicle_min_s"), r("vehicle_kmh", "limit"), r("max_speed_kmh", "kmh", ">", "vehicle_kmh"),
      r("mean_speed_kmh", "kmh"), r("duration_s", "s"), r("distance_m", "m"), r("paused_s", "s", null, null),
      r("vehicle_join_s", "limit"), r("segments", "n"), r("from", "point"), r("to", "point"),
      r("excluded_in_grid_s", "s")],
    MOCK_LOCATION: [r("mock_fixes", "n"), r("duration_s", "s"), r("first_fix", "where"), r("last_fix", "where"),
      r("device_ids", "list")],
    DUPLICATE_TRACK: [r("kind", "enum"), r("other_member_id", "text"), r("other_date", "text"),
      r("share_within", "pct", "≥", "duplicate_track_share"), r("overlap_s", "s", "≥", "duplicate_track_min_overlap_s"),
      r("within_s", "s"), r("median_distance_m", "m", "≤", "duplicate_track_distance_m"), r("max_distance_m", "m"),
      r("span_m", "m", "≥", "duplicate_replay_min_span_m"), r("shift_s", "s"), r("clock_shift_s", "s"),
      r("device_ids", "list"), r("other_device_ids", "list")],
    CRS_MISMATCH: [r("share_in_grid_as_gcj02", "pct", "≥", "crs_mismatch_share"), r("share_in_grid_as_read", "pct"),
      r("median_offset_m", "m"), r("mean_shift_east_m", "m"), r("mean_shift_north_m", "m"),
      r("declared_crs", "text"), r("if_converted", "converted"), r("advice", "advice")],
    EVENT_NO_TRACK: [r("nearest_fix_s", "s", ">", "max_gap_s"), r("nearest_fix_time", "time")],
    EVENT_FAR_FROM_TRACK: [r("distance_m", "m", ">", "event_max_distance_m"), r("position", "point"),
      r("interpolated", "bool"), r("fixes", "fixes")],
    EVENT_OUTSIDE_GRID: [r("distance_outside_m", "m", ">", "event_outside_grid_m"), r("grid_id", "text")],
    EVENT_DUPLICATE: [r("distance_m", "m", "≤", "event_duplicate_distance_m"),
      r("time_apart_s", "s", "≤", "event_duplicate_window_s"), r("category", "text"), r("earlier_event_id", "text"),
      r("earlier_member_id", "text"), r("earlier_event_time", "time"), r("earlier_matches", "n")]
  };
  var COMMON = [r("rule_version", "text")];

  var LABELS = {
    "zh-CN": {
      "ev.max_speed_kmh": "最高速度", "ev.adjusted_distance_m": "跳跃距离（扣除定位误差）", "ev.distance_m": "距离",
      "ev.TELEPORT.distance_m": "跳跃距离", "ev.duration_s": "持续时间", "ev.TELEPORT.duration_s": "跳跃用时",
      "ev.continued_s": "跳跃后停留", "ev.from": "起点", "ev.to": "终点", "ev.TELEPORT.from": "跳跃前位置",
      "ev.TELEPORT.to": "跳跃后位置", "ev.segments": "轨迹段数", "ev.excluded_s": "不计入巡查的时间",
      "ev.reason": "判定原因", "ev.reason.come_back": "偏离后很快回到原处", "ev.reason.network": "基站/Wi-Fi 定位",
      "ev.reason.stale": "位置冻结不变", "ev.reason.before_gap": "信号中断前的跳点", "ev.reason.cold_start": "开机后首个定位被后续定位否定",
      "ev.speed_kmh": "偏离速度", "ev.max_distance_m": "最远偏离", "ev.fixes": "定位点数", "ev.accuracy_m": "定位精度",
      "ev.last_good_fix": "最后正常定位", "ev.first_good_fix": "首个正常定位", "ev.first_fix": "首个定位点",
      "ev.last_fix": "最后定位点", "ev.dropped_from_geometry": "已从轨迹中剔除", "ev.uncounted_s": "未计入的时间",
      "ev.GAP.duration_s": "中断时长", "ev.last_fix_before": "中断前最后定位", "ev.first_fix_after": "中断后首个定位",
      "ev.radius_m": "离中心最远", "ev.rms_radius_m": "离中心均方根距离", "ev.radius_limit_m": "判定半径",
      "ev.path_length_m": "轨迹长度", "ev.still_share": "静止时间占比", "ev.median_motion_mps": "中位移动速度",
      "ev.still_mps": "静止速度上限", "ev.median_accuracy_m": "中位定位精度", "ev.centre": "中心位置",
      "ev.excluded_in_grid_s": "从核定时长中扣除", "ev.fast_s": "车速超过阈值的时长", "ev.vehicle_kmh": "乘车车速阈值",
      "ev.VEHICLE.max_speed_kmh": "最高车速", "ev.mean_speed_kmh": "平均速度", "ev.paused_s": "途中停车",
      "ev.vehicle_join_s": "停车合并上限", "ev.mock_fixes": "虚拟定位点数", "ev.device_ids": "设备编号",
      "ev.kind": "类型", "ev.kind.two_phones": "一人双机（与另一网格员同时段轨迹重合）", "ev.kind.replay": "轨迹重放（与以前某天相同）",
      "ev.other_member_id": "另一网格员", "ev.other_date": "对比日期", "ev.share_within": "30 m 内时间占比",
      "ev.overlap_s": "共同时段", "ev.within_s": "相距 30 m 内的时长", "ev.median_distance_m": "中位间距",
      "ev.DUPLICATE_TRACK.max_distance_m": "最大间距", "ev.span_m": "重复轨迹范围", "ev.shift_s": "时间平移",
      "ev.clock_shift_s": "时钟偏差（除整天外）", "ev.other_device_ids": "另一设备编号",
      "ev.share_in_grid_as_gcj02": "按 GCJ-02 换算后在网格内的比例", "ev.share_in_grid_as_read": "按上报坐标在网格内的比例",
      "ev.median_offset_m": "中位偏移", "ev.mean_shift_east_m": "向东偏移", "ev.mean_shift_north_m": "向北偏移",
      "ev.declared_crs": "上报坐标系", "ev.if_converted": "按 GCJ-02 换算后",
      "ev.converted": "核定时长 {verified}，覆盖率 {coverage}，{status}，积分 {points}",
      "ev.advice": "建议", "ev.advice.text": "若该手机使用国内地图 SDK，请按 GCJ-02 重新上传（--crs gcj02 或 ?crs=gcj02）",
      "ev.nearest_fix_s": "最近定位点相隔", "ev.nearest_fix_time": "最近定位点时间", "ev.position": "事件时刻的位置",
      "ev.interpolated": "由前后定位点插值", "ev.EVENT_FAR_FROM_TRACK.distance_m": "事件与轨迹的距离",
      "ev.EVENT_FAR_FROM_TRACK.fixes": "前后定位点", "ev.distance_outside_m": "在网格外的距离", "ev.grid_id": "网格",
      "ev.EVENT_DUPLICATE.distance_m": "与先前事件的距离", "ev.time_apart_s": "与先前事件相隔", "ev.category": "事件类别",
      "ev.earlier_event_id": "先前事件", "ev.earlier_member_id": "先前上报人", "ev.earlier_event_time": "先前事件时间",
      "ev.earlier_matches": "匹配的先前事件数", "ev.rule_version": "规则版本"
    },
    "en": {
      "ev.max_speed_kmh": "Top speed", "ev.adjusted_distance_m": "Jump less GPS accuracy", "ev.distance_m": "Distance",
      "ev.TELEPORT.distance_m": "Jump distance", "ev.duration_s": "Duration", "ev.TELEPORT.duration_s": "Jump took",
      "ev.continued_s": "Stayed away for", "ev.from": "From", "ev.to": "To", "ev.TELEPORT.from": "Before the jump",
      "ev.TELEPORT.to": "After the jump", "ev.segments": "Segments", "ev.excluded_s": "Not counted as patrol time",
      "ev.reason": "Why", "ev.reason.come_back": "jumped away and came back", "ev.reason.network": "cell / Wi-Fi position",
      "ev.reason.stale": "frozen position", "ev.reason.before_gap": "jump just before a gap", "ev.reason.cold_start": "first fix contradicted by the next ones",
      "ev.speed_kmh": "Speed away", "ev.max_distance_m": "Farthest off", "ev.fixes": "Fixes", "ev.accuracy_m": "Accuracy",
      "ev.last_good_fix": "Last good fix", "ev.first_good_fix": "First good fix", "ev.first_fix": "First fix",
      "ev.last_fix": "Last fix", "ev.dropped_from_geometry": "Left out of the track", "ev.uncounted_s": "Time not counted",
      "ev.GAP.duration_s": "Gap", "ev.last_fix_before": "Last fix before", "ev.first_fix_after": "First fix after",
      "ev.radius_m": "Farthest from the centre", "ev.rms_radius_m": "RMS distance from the centre", "ev.radius_limit_m": "Radius",
      "ev.path_length_m": "Path length", "ev.still_share": "Share of time still", "ev.median_motion_mps": "Median motion",
      "ev.still_mps": "Still below", "ev.median_accuracy_m": "Median accuracy", "ev.centre": "Centre",
      "ev.excluded_in_grid_s": "Taken off verified time", "ev.fast_s": "Time above the vehicle speed", "ev.vehicle_kmh": "Vehicle speed",
      "ev.VEHICLE.max_speed_kmh": "Top speed", "ev.mean_speed_kmh": "Mean speed", "ev.paused_s": "Stops on the way",
      "ev.vehicle_join_s": "Stops joined up to", "ev.mock_fixes": "Mock fixes", "ev.device_ids": "Devices",
      "ev.kind": "Kind", "ev.kind.two_phones": "two phones, one person (another member's track)", "ev.kind.replay": "replay of an earlier day",
      "ev.other_member_id": "Other member", "ev.other_date": "Compared day", "ev.share_within": "Share within 30 m",
      "ev.overlap_s": "Common time", "ev.within_s": "Time within 30 m", "ev.median_distance_m": "Median distance",
      "ev.DUPLICATE_TRACK.max_distance_m": "Largest distance", "ev.span_m": "Repeated stretch reaches", "ev.shift_s": "Time shift",
      "ev.clock_shift_s": "Clock shift (less whole days)", "ev.other_device_ids": "Other devices",
      "ev.share_in_grid_as_gcj02": "In grid read as GCJ-02", "ev.share_in_grid_as_read": "In grid as uploaded",
      "ev.median_offset_m": "Median offset", "ev.mean_shift_east_m": "Shift east", "ev.mean_shift_north_m": "Shift north",
      "ev.declared_crs": "Declared CRS", "ev.if_converted": "Read as GCJ-02",
      "ev.converted": "verified time {verified}, coverage {coverage}, {status}, {points} points",
      "ev.advice": "Advice", "ev.advice.text": "If the phone uses a Chinese map SDK, upload again declared as GCJ-02 (--crs gcj02 or ?crs=gcj02)",
      "ev.nearest_fix_s": "Nearest fix", "ev.nearest_fix_time": "Nearest fix at", "ev.position": "Position at the event time",
      "ev.interpolated": "Interpolated between fixes", "ev.EVENT_FAR_FROM_TRACK.distance_m": "Event from the track",
      "ev.EVENT_FAR_FROM_TRACK.fixes": "Fixes around", "ev.distance_outside_m": "Outside the grid by", "ev.grid_id": "Grid",
      "ev.EVENT_DUPLICATE.distance_m": "From the earlier event", "ev.time_apart_s": "Time apart", "ev.category": "Category",
      "ev.earlier_event_id": "Earlier event", "ev.earlier_member_id": "Earlier reporter", "ev.earlier_event_time": "Earlier event at",
      "ev.earlier_matches": "Earlier events matching", "ev.rule_version": "Rule version"
    }
  };
  Object.keys(LABELS).forEach(function (lang) {
    Object.keys(LABELS[lang]).forEach(function (key) { GV.i18n.dictionaries[lang][key] = LABELS[lang][key]; });
  });

  function label(code, key) { return GV.i18n.has("ev." + code + "." + key) ? t("ev." + code + "." + key) : t("ev." + key); }

  function place(p) {
    if (!p) { return "–"; }
    var parts = [];
    if (typeof p.lon === "number" && typeof p.lat === "number") { parts.push(p.lon.toFixed(6) + ", " + p.lat.toFixed(6)); }
    if (p.source) { parts.push(t("evidence.line", { source: String(p.source).split("/").pop(), line: p.line })); }
    return parts.length === 2 ? parts[0] + t("punct.paren", { x: parts[1] }) : parts.join("") || "–";
  }

  function figure(kind, value) {
    if (value === null || value === undefined) { return "–"; }
    switch (kind) {
      case "kmh": return fmt.num(value, Number.isInteger(value) ? 0 : 1) + " " + t("unit.kmh");
      case "m": return fmt.m(value);
      case "s": return fmt.seconds(value);
      case "pct": return fmt.pct(value);
      case "n": return fmt.num(value, 0);
      case "mps": return fmt.num(value, 2) + " m/s";
      case "point": case "where": return place(value);
      case "time": return fmt.time(value);
      case "bool": return value ? t("evidence.yes") : t("evidence.no");
      case "list": return value.length ? value.join(", ") : "–";
      default: return String(value);
    }
  }

  /* The unit a threshold has is the unit of the figure it bounds (limits name their own). */
  function limitKind(key) {
    if (/_kmh$/.test(key)) { return "kmh"; }
    if (/_mps$/.test(key)) { return "mps"; }
    if (/_m$/.test(key)) { return "m"; }
    if (/_s$/.test(key)) { return "s"; }
    if (/(_share|_ratio)$/.test(key)) { return "pct"; }
    return "text";
  }

  function rowText(code, spec, evidence) {
    var value = evidence[spec.key];
    switch (spec.kind) {
      case "enum": return GV.i18n.has("ev." + spec.key + "." + value) ? t("ev." + spec.key + "." + value) : String(value);
      case "limit": return t("evidence.limit") + " " + figure(limitKind(spec.key), value);
      case "advice": return t("ev.advice.text");
      case "converted": return t("ev.converted", { verified: fmt.hours(value.verified_s), coverage: fmt.pct(value.coverage_area_ratio),
        status: fmt.creditStatus((value.credit || {}).status), points: (value.credit || {}).points });
      case "fixes": return value.map(function (f) {
        var s = f.seconds_from_event;
        return fmt.time(f.time) + t("punct.paren", { x: t(s < 0 ? "evidence.before_event" : "evidence.after_event", { s: fmt.seconds(Math.abs(s)) }) +
          (f.source ? t("punct.comma") + t("evidence.line", { source: String(f.source).split("/").pop(), line: f.line }) : "") });
      }).join(t("punct.sep")) || "–";
      case "text":
        if (spec.key === "earlier_member_id" && value === null && evidence.earlier_in_scope === false) { return t("evidence.other_scope"); }
        return value === null || value === undefined ? "–" : String(value);
      default:
        var text = figure(spec.kind, value);
        if (spec.cmp && evidence[spec.limit] !== undefined && evidence[spec.limit] !== null) {
          text += " " + spec.cmp + " " + t("evidence.threshold") + " " + figure(spec.kind === "n" ? "n" : limitKind(spec.limit), evidence[spec.limit]);
        }
        return text;
    }
  }

  /* [{key, label, text}] of a flag's evidence, in the order that explains it best. */
  function rows(flag) {
    var evidence = flag.evidence || {}, specs = (SPECS[flag.code] || []).concat(COMMON);
    return specs.filter(function (spec) {
      var v = evidence[spec.key];
      return v !== undefined && !(v === null && spec.kind !== "text") && !(spec.kind === "point" && v === null);
    }).map(function (spec) {
      return { key: spec.key, label: label(flag.code, spec.key), text: rowText(flag.code, spec, evidence) };
    });
  }

  function table(flag) {
    return el("table", { "class": "evidence-rows", "data-flag-id": flag.flag_id }, [el("tbody", {}, rows(flag).map(function (row) {
      return el("tr", { "data-key": row.key }, [el("th", { scope: "row", text: row.label }), el("td", { text: row.text })]);
    }))]);
  }

  /* The raw fields (as the API names them), folded away. */
  function raw(flag) {
    return el("details", { "class": "evidence-raw" }, [el("summary", { text: t("evidence.raw") }), GV.evidenceTable(flag.evidence)]);
  }

  function decisionWord(decision) { return t("review.decision." + decision); }

  /* The flag's reviews, oldest first: decision · reviewer · time, then the note. */
  function history(flag) {
    var reviews = flag.reviews || [];
    var box = el("div", { "class": "review-history", "data-flag-id": flag.flag_id });
    box.appendChild(el("h4", { text: t("review.history") }));
    if (!reviews.length) { box.appendChild(el("p", { "class": "muted small", text: t("review.history_none") })); return box; }
    box.appendChild(el("ol", {}, reviews.map(function (rv) {
      return el("li", { "class": "review-entry decision-" + rv.decision, "data-reviewer": rv.reviewer }, [
        el("span", { "class": "review-entry-head", text: t("review.history_row", { decision: decisionWord(rv.decision),
          reviewer: rv.reviewer, time: fmt.time(rv.created_at) }) }),
        el("span", { "class": "review-entry-note", text: rv.note })
      ]);
    })));
    return box;
  }

  /* One line: the latest decision, who and when ("已排除 · audit-office · 2026-11-03 10:00:00"). */
  function lastDecision(flag) {
    var reviews = flag.reviews || [];
    if (!reviews.length) { return ""; }
    var last = reviews[reviews.length - 1];
    return t("review.history_row", { decision: decisionWord(last.decision), reviewer: last.reviewer, time: fmt.time(last.created_at) });
  }

  GV.evidence = { rows: rows, table: table, raw: raw, history: history, lastDecision: lastDecision, specs: SPECS };
}());
