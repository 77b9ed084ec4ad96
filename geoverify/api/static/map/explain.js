/* Credit explained: the API's credit_reasons (codes, figures, thresholds) as sentences in the page's
   language, wherever credit is shown; and server errors (problem+json) as messages in the page's
   language, with the server's own detail kept in a fold. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;

  function byRule(reasons, rule) { return (reasons || []).filter(function (r) { return r.rule === rule; }); }

  function excludedParts(reason) {
    return (reason.excluded || []).map(function (part) { return fmt.codeName(part.code) + " " + fmt.hours(part.seconds); }).join(t("punct.list"));
  }

  /* [{rule, met, text}] for a patrol (an object with credit and credit_reasons). */
  function sentences(patrol) {
    var reasons = patrol.credit_reasons || [], credit = patrol.credit || {}, out = [];
    reasons.forEach(function (reason) {
      var text = null;
      if (reason.rule === "rejected") {
        var rv = reason.review;
        text = rv ? t("reason.rejected_by", { code: fmt.codeName(reason.code), reviewer: rv.reviewer, time: fmt.time(rv.created_at), note: rv.note })
          : t("reason.rejected", { code: fmt.codeName(reason.code) });
      } else if (reason.rule === "held") {
        text = t("reason.held", { code: fmt.codeName(reason.code) });
      } else if (reason.rule === "grid") {
        text = t("reason.grid");
      } else if (reason.rule === "crs_mismatch") {
        text = t("reason.crs_mismatch", { points: reason.if_converted_points === null ? "–" : reason.if_converted_points });
      } else if (reason.rule === "verified_time") {
        text = t(reason.met ? "reason.verified_time.met" : "reason.verified_time.unmet",
          { value: fmt.hours(reason.value_s), required: fmt.hours(reason.required_s) });
        if ((reason.excluded || []).length) {
          text += t("reason.verified_time.excluded", { in_grid: fmt.hours(reason.in_grid_s), parts: excludedParts(reason) });
        }
      } else if (reason.rule === "coverage") {
        text = t(reason.met ? "reason.coverage.met" : "reason.coverage.unmet", { value: fmt.pct(reason.value), required: fmt.pct(reason.required) });
      } else if (reason.rule === "points") {
        var rulesMet = byRule(reasons, "verified_time").concat(byRule(reasons, "coverage")).every(function (x) { return x.met; });
        if (credit.status === "verified") {
          text = credit.points > 0 ? t("reason.points.earned", { points: credit.points }) : t("reason.points.short", { per: reason.points_per_patrol });
        } else if (credit.status === "held") {
          text = rulesMet ? t("reason.points.held_would", { per: reason.points_per_patrol }) : t("reason.points.held_would_not");
        }
      }
      if (text) { out.push({ rule: reason.rule, met: reason.met, text: text }); }
    });
    return out;
  }

  /* The reasons as a list (✓ met, ✗ not met). */
  function list(patrol, id) {
    var items = sentences(patrol);
    var box = el("ul", { "class": "credit-reasons", id: id || null, "data-status": (patrol.credit || {}).status });
    items.forEach(function (item) {
      var summary = item.rule === "points";  // the outcome, not a rule: no tick or cross
      box.appendChild(el("li", { "class": "reason reason-" + item.rule + (summary ? " summary" : item.met ? " met" : " unmet"),
        "data-rule": item.rule }, [el("span", { "class": "reason-mark", "aria-hidden": "true", text: summary ? "→" : item.met ? "✓" : "✗" }),
        " " + item.text]));
    });
    return box;
  }

  /* One line for lists and tables: why the points are what they are ("核定时长 1.25 h < 2.00 h"). */
  function short(patrol) {
    var reasons = patrol.credit_reasons || [], credit = patrol.credit || {}, parts = [];
    if (!reasons.length) { return ""; }
    byRule(reasons, "rejected").forEach(function (r) {
      parts.push(r.review ? t("reason.short.rejected_by", { code: fmt.codeName(r.code), reviewer: r.review.reviewer })
        : t("reason.short.rejected", { code: fmt.codeName(r.code) }));
    });
    var held = byRule(reasons, "held").map(function (r) { return fmt.codeName(r.code); });
    if (held.length && credit.status === "held") { parts.push(t("reason.short.held", { code: held.join(t("punct.list")) })); }
    if (byRule(reasons, "grid").length) { parts.push(t("reason.short.grid")); }
    byRule(reasons, "verified_time").forEach(function (r) {
      if (!r.met) { parts.push(t("reason.short.time", { value: fmt.hours(r.value_s), required: fmt.hours(r.required_s) })); }
    });
    byRule(reasons, "coverage").forEach(function (r) {
      if (!r.met) { parts.push(t("reason.short.coverage", { value: fmt.pct(r.value), required: fmt.pct(r.required) })); }
    });
    return parts.length ? parts.join(t("punct.sep")) : t("reason.short.earned");
  }

  GV.explain = { sentences: sentences, list: list, short: short };

  /* ---- server errors in the page's language ---- */
  function message(err) {
    if (!err || typeof err.status !== "number") { return String(err && err.message || err); }
    if (err.title && GV.i18n.has("problem." + err.title)) { return t("problem." + err.title); }
    if (GV.i18n.has("problem." + err.status)) { return t("problem." + err.status); }
    return t("problem.other", { status: err.status });
  }

  /* The message, and the server's detail (as it wrote it) in a fold. */
  function node(err, className) {
    var box = el("span", { "class": "problem " + (className || ""), "data-status": err && err.status }, [el("span", { "class": "problem-message", text: message(err) })]);
    if (err && err.detail) {
      box.appendChild(el("details", { "class": "problem-details" }, [el("summary", { text: t("problem.details") }),
        el("code", { text: (err.status ? err.status + " " : "") + (err.title ? err.title + ": " : "") + err.detail })]));
    }
    return box;
  }

  GV.problem = { message: message, node: node };
}());
