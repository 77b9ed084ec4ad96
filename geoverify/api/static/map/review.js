/* Reviewing a flag: the note and the two decisions first, what each decision will do stated before it
   is taken (GET /api/v1/flags/{id}/preview), the flag's review history, and overturning an earlier
   decision only after a second, explicit confirmation with a reason ("overturn": true). Used by the
   flag popup and the review queue. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var DECISIONS = ["dismiss", "confirm"];
  var STATUS_OF = { confirm: "confirmed", dismiss: "dismissed" };

  function flagUrl(flag, tail) { return "/api/v1/flags/" + encodeURIComponent(flag.flag_id) + tail; }

  /* "排除后：已核定，积分 0；核定时长 1.25 h，覆盖率 89.9 %（核定时长 1.25 h < 2.00 h）" */
  function outcomeText(decision, outcome) {
    var text = t("review.preview." + decision);
    if (!outcome.credit) { return text + t("review.preview.no_patrol"); }
    text += t("review.preview.outcome", { status: fmt.creditStatus(outcome.credit.status), points: outcome.credit.points,
      verified: fmt.hours(outcome.verified_s), coverage: fmt.pct(outcome.coverage_ratio) });
    var why = GV.explain.short(outcome);
    if (why && outcome.credit.points === 0) { text += t("punct.paren", { x: why }); }
    if (!outcome.changes_credit) { text += t("review.preview.unchanged"); }
    (outcome.ledger || []).forEach(function (entry) {
      text += t("punct.sep") + t(entry.kind === "grant" ? "review.preview.ledger_grant" : "review.preview.ledger_reversal",
        { points: Math.abs(entry.points) });
    });
    return text;
  }

  function showPreview(list, flag, decisions) {
    GV.clear(list).appendChild(el("li", { "class": "muted", text: t("review.preview_loading") }));
    list.setAttribute("aria-busy", "true");
    var query = decisions.length === 1 ? "?decision=" + decisions[0] : "";
    return GV.api(flagUrl(flag, "/preview" + query)).then(function (preview) {
      GV.clear(list);
      decisions.forEach(function (decision) {
        var outcome = preview.outcomes[decision];
        if (!outcome) { return; }
        list.appendChild(el("li", { "class": "preview-" + decision, "data-decision": decision,
          "data-status": outcome.credit ? outcome.credit.status : "", "data-points": outcome.credit ? outcome.credit.points : "",
          text: outcomeText(decision, outcome) }));
      });
      return preview;
    }).catch(function (err) {
      GV.clear(list).appendChild(el("li", { "class": "error" }, [t("review.preview.failed", { detail: "" }), GV.problem.node(err)]));
    }).then(function (preview) { list.removeAttribute("aria-busy"); return preview; });
  }

  function failed(message, err) {
    GV.clear(message).appendChild(GV.problem.node(err));
    message.className = "message error review-message";
  }

  function post(flag, decision, note, overturn) {
    var body = { decision: decision, note: note };
    if (overturn) { body.overturn = true; }
    return GV.api(flagUrl(flag, "/review"), { method: "POST", json: body });
  }

  /* The first decision on an open flag. */
  function decideForm(flag, opts, wrap, message) {
    var note = el("textarea", { "class": "review-note", id: opts.noteId || null, rows: "2", maxlength: "4000", required: true,
      placeholder: t("review.note_placeholder"), "aria-label": t("review.note") });
    var preview = el("ul", { "class": "review-preview", "aria-live": "polite" });
    function send(decision) {
      if (!note.value.trim()) {
        message.textContent = t("review.note_required");
        message.className = "message error review-message";
        note.focus();
        return;
      }
      wrap.querySelectorAll("button, textarea").forEach(function (b) { b.disabled = true; });
      post(flag, decision, note.value.trim(), false).then(function (result) {
        if (opts.onDone) { opts.onDone(result, decision); }
      }).catch(function (err) {
        failed(message, err);
        wrap.querySelectorAll("button, textarea").forEach(function (b) { b.disabled = false; });
      });
    }
    note.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && opts.onEscape) { event.preventDefault(); opts.onEscape(); }
    });
    wrap.appendChild(el("label", { "class": "review-label" }, [el("span", { i18n: "review.note" }), note]));
    wrap.appendChild(el("div", { "class": "buttons" }, DECISIONS.map(function (decision) {
      return el("button", { type: "button", "class": "review-" + decision + (decision === "confirm" ? " danger" : ""),
        "data-decision": decision, on: { click: function () { send(decision); } } }, [t("review." + decision)]);
    })));
    wrap.appendChild(preview);
    showPreview(preview, flag, DECISIONS);
    return note;
  }

  /* An earlier decision: the history, and an overturn that needs a second confirmation and a reason. */
  function overturnForm(flag, opts, wrap, message) {
    var target = flag.status === "confirmed" ? "dismiss" : "confirm";
    var reviews = flag.reviews || [], last = reviews[reviews.length - 1];
    var panel = el("div", { "class": "overturn-panel", hidden: true });
    var reason = el("textarea", { "class": "overturn-note", rows: "2", maxlength: "4000", required: true,
      placeholder: t("review.overturn_placeholder"), "aria-label": t("review.overturn_note") });
    var preview = el("ul", { "class": "review-preview", "aria-live": "polite" });
    var open = el("button", { type: "button", "class": "secondary review-overturn", "aria-expanded": "false",
      on: { click: function () {
        panel.hidden = false;
        open.setAttribute("aria-expanded", "true");
        open.disabled = true;
        showPreview(preview, flag, [target]);
        reason.focus();
      } } }, [t("review.overturn")]);
    var confirm = el("button", { type: "button", "class": "danger overturn-confirm", "data-decision": target,
      on: { click: function () {
        if (!reason.value.trim()) {
          message.textContent = t("review.note_required");
          message.className = "message error review-message";
          reason.focus();
          return;
        }
        panel.querySelectorAll("button, textarea").forEach(function (b) { b.disabled = true; });
        post(flag, target, reason.value.trim(), true).then(function (result) {
          if (opts.onDone) { opts.onDone(result, target, true); }
        }).catch(function (err) {
          failed(message, err);
          panel.querySelectorAll("button, textarea").forEach(function (b) { b.disabled = false; });
        });
      } } }, [t("review.overturn_confirm", { decision: t("review." + target) })]);
    var cancel = el("button", { type: "button", "class": "secondary overturn-cancel", on: { click: function () {
      panel.hidden = true; open.disabled = false; open.setAttribute("aria-expanded", "false"); reason.value = ""; open.focus();
    } } }, [t("review.overturn_cancel")]);
    reason.addEventListener("keydown", function (event) { if (event.key === "Escape") { event.preventDefault(); cancel.click(); } });
    if (last) {
      panel.appendChild(el("p", { "class": "overturn-title", text: t("review.overturn_title", { reviewer: last.reviewer,
        time: fmt.time(last.created_at), decision: t("review.decision." + last.decision) }) }));
    }
    panel.appendChild(el("p", { "class": "overturn-explain small", text: t("review.overturn_explain",
      { from: fmt.flagStatus(flag.status), to: fmt.flagStatus(STATUS_OF[target]) }) }));
    panel.appendChild(preview);
    panel.appendChild(el("label", { "class": "review-label" }, [el("span", { text: t("review.overturn_note") }), reason]));
    panel.appendChild(el("div", { "class": "buttons" }, [confirm, cancel]));
    wrap.appendChild(open);
    wrap.appendChild(panel);
    return open;
  }

  /* The review part of a flag's view. opts: onDone(result, decision, overturned), onEscape(), noteId.
     The returned node's .focusTarget is the note field (or the overturn button). */
  function form(flag, opts) {
    opts = opts || {};
    var reviewed = flag.status !== "open" || (flag.reviews || []).length > 0;
    var wrap = el("div", { "class": "review" + (reviewed ? " reviewed" : ""), "data-flag-id": flag.flag_id });
    var message = el("p", { "class": "message review-message", role: "status" });
    if (reviewed) { wrap.appendChild(GV.evidence.history(flag)); }
    if (!(GV.session && GV.session.can_review)) {
      wrap.appendChild(el("p", { "class": "muted small review-readonly", i18n: "review.readonly" }));
      return wrap;
    }
    if (!reviewed) { wrap.appendChild(el("h4", { i18n: "review.title" })); }
    wrap.focusTarget = reviewed ? overturnForm(flag, opts, wrap, message) : decideForm(flag, opts, wrap, message);
    wrap.appendChild(message);
    return wrap;
  }

  /* The toast after a review: the flag's new status and the credit's. */
  function doneText(result, overturned) {
    var credit = result.credit ? fmt.creditStatus(result.credit.status) : "–";
    return t(overturned ? "review.overturn_done" : "review.done", { status: fmt.flagStatus(result.flag.status), credit: credit });
  }

  GV.review = { form: form, doneText: doneText, outcomeText: outcomeText };
}());
