/* The auditor's review queue (a tab of the map page's left column): open flags, most at stake first
   (GET /api/v1/flags/queue), and beside the map a card with the chosen flag's note and decisions,
   what each decision will do, and its evidence. Usable with the keyboard alone: j / ↓ and k / ↑ move,
   n or Enter go to the note, Tab to the buttons, Enter decides; the next flag is then ready. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t, el = GV.el, fmt = GV.fmt;
  var PAGE = 100;
  var queue = { items: [], total: 0, index: -1, active: false, loaded: false, seq: 0, card: null };

  function $(id) { return document.getElementById(id); }

  function filters() {
    var value = function (id) { var node = $(id); return node ? node.value.trim() : ""; };
    return { grid_id: value("f-grid"), member_id: value("f-member"), date_from: value("f-from"), date_to: value("f-to"),
             code: value("f-code"), limit: PAGE };
  }

  function stakeBadge(stake) {
    var key = "stake.badge." + stake.kind + (stake.kind === "held_credit" && !stake.points ? "_zero" : "");
    var text = t(key, { points: stake.points, seconds: fmt.seconds(stake.seconds) });
    return el("span", { "class": "badge stake stake-" + stake.kind, "data-kind": stake.kind, text: text });
  }

  function stakeText(stake) {
    if (stake.kind === "held_credit") { return t(stake.points > 0 ? "stake.held_credit" : "stake.held_credit_zero", { points: stake.points }); }
    return t("stake." + stake.kind, { points: stake.points, seconds: fmt.seconds(stake.seconds) });
  }

  /* ---- the list ---- */
  function load(keepIndex) {
    var seq = ++queue.seq, box = $("list-queue");
    box.setAttribute("aria-busy", "true");
    if (!queue.loaded) { GV.clear(box).appendChild(el("p", { "class": "muted", text: t("queue.loading") })); }
    return GV.api("/api/v1/flags/queue" + GV.query(filters())).then(function (page) {
      if (seq !== queue.seq) { return; }
      queue.items = page.flags;
      queue.total = page.total;
      queue.loaded = true;
      renderList();
      var index = Math.min(keepIndex === undefined ? 0 : keepIndex, queue.items.length - 1);
      select(index, false);
    }).catch(function (err) {
      GV.clear(box).appendChild(GV.problem.node(err, "error"));
    }).then(function () { box.removeAttribute("aria-busy"); });
  }

  function renderList() {
    var box = GV.clear($("list-queue"));
    if (!queue.items.length) {
      box.appendChild(el("p", { "class": "muted queue-empty", text: t("queue.empty") }));
      renderCard(null);
      return;
    }
    var list = el("ul", { "class": "items queue-items", role: "listbox", "aria-label": t("queue.list_label") });
    queue.items.forEach(function (flag, i) {
      list.appendChild(el("li", { role: "presentation" }, [el("button", {
        type: "button", role: "option", id: "queue-item-" + i, "class": "item queue-item sev-" + flag.severity,
        "aria-selected": i === queue.index ? "true" : "false", "data-flag-id": flag.flag_id, "data-code": flag.code,
        "data-index": String(i), "data-stake": flag.stake.kind,
        on: { click: function () { select(i, true); } } }, [
        el("span", { "class": "item-title", text: fmt.codeName(flag.code) }),
        el("span", { "class": "item-sub", text: (flag.member_id || "–") + " · " + (flag.date || "") + " · " + (flag.grid_id || "") }),
        el("span", { "class": "item-figures" }, [stakeBadge(flag.stake),
          GV.badge("severity", flag.severity, t("severity.label") + " " + fmt.severity(flag.severity))])
      ])]));
    });
    box.appendChild(list);
    if (queue.total > queue.items.length) {
      box.appendChild(el("p", { "class": "muted small", text: t("list.range", { from: 1, to: queue.items.length, total: queue.total }) }));
    }
  }

  function itemButton(i) { return $("queue-item-" + i); }

  /* Show flag i: the card, its patrol on the map; focusNote puts the cursor in its note. */
  function select(i, focusNote) {
    if (i < 0 || i >= queue.items.length) { renderCard(null); return; }
    queue.index = i;
    document.querySelectorAll(".queue-item").forEach(function (node) {
      var on = node.getAttribute("data-index") === String(i);
      node.classList.toggle("selected", on);
      node.setAttribute("aria-selected", on ? "true" : "false");
    });
    var flag = queue.items[i];
    renderCard(flag);
    if (flag.patrol_id && flag.patrol_credit && GV.mapActions) { GV.mapActions.selectPatrol(flag.patrol_id); }
    if (focusNote) { focusCard(); }
  }

  function move(step) {
    if (!queue.items.length) { return; }
    var next = Math.max(0, Math.min(queue.items.length - 1, queue.index + step));
    select(next, false);
    var button = itemButton(next);
    if (button) { button.focus(); button.scrollIntoView({ block: "nearest" }); }
  }

  function focusCard() {
    var target = queue.card && queue.card.focusTarget;
    if (target) { target.focus(); }
  }

  /* ---- the card ---- */
  function renderCard(flag) {
    var box = $("queue-card");
    GV.clear(box);
    queue.card = null;
    box.hidden = !queue.active || !flag;
    if (!flag) { return; }
    box.setAttribute("data-flag-id", flag.flag_id);
    box.appendChild(el("div", { "class": "queue-card-head" }, [
      el("h3", { text: t("queue.title", { code: fmt.codeName(flag.code) }) }),
      el("span", { "class": "muted small queue-position", text: t("queue.position", { n: queue.index + 1, total: queue.total }) })]));
    box.appendChild(el("p", { "class": "queue-stake stake-" + flag.stake.kind, text: stakeText(flag.stake) }));
    box.appendChild(el("p", { "class": "small queue-meta" }, [
      GV.badge("severity", flag.severity, fmt.severity(flag.severity)), " ",
      (flag.member_id || "–") + " · " + (flag.grid_id || "–") + " · " + fmt.span(flag.start, flag.end),
      flag.event_id ? " · " + t("flag.event") + " " + flag.event_id : ""]));
    var review = GV.review.form(flag, { noteId: "queue-note", onDone: decided,
      onEscape: function () { var b = itemButton(queue.index); if (b) { b.focus(); } } });
    box.appendChild(review);
    queue.card = review;
    box.appendChild(el("h4", { i18n: "flag.evidence" }));
    box.appendChild(GV.evidence.table(flag));
    box.appendChild(GV.evidence.raw(flag));
    box.appendChild(el("p", { "class": "muted small queue-hint", text: t("queue.hint") }));
  }

  function decided(result, decision, overturned) {
    if (GV.mapActions) { GV.mapActions.toast(GV.review.doneText(result, overturned)); }
    var index = queue.index;
    load(index).then(function () {
      focusCard();
      if (GV.mapActions) { GV.mapActions.reloadLists(); }
    });
  }

  /* ---- tab and keys ---- */
  function show(active) {
    queue.active = active;
    $("queue-card").hidden = !active || queue.index < 0 || !queue.items.length;
    if (active && !queue.loaded) { load(0); }
  }

  function onKey(event) {
    if (!queue.active || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target, tag = target && target.tagName;
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") { return; }
    var inQueue = target.closest && (target.closest("#list-queue") || target.closest("#queue-card"));
    if (!inQueue && target !== document.body) { return; }
    if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); move(1); }
    else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); move(-1); }
    else if (event.key === "n") { event.preventDefault(); focusCard(); }
  }

  function start() {
    var tab = $("tab-queue");
    if (!tab) { return; }
    // common.js sets body[data-role] once a token works (and again for another token).
    new MutationObserver(function () {
      var can = !!(GV.session && GV.session.can_review);
      tab.hidden = !can;
      queue.loaded = false;
      if (!can && queue.active) { $("tab-patrols").click(); }
      if (can && queue.active) { load(0); }
    }).observe(document.body, { attributes: true, attributeFilter: ["data-role"] });
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]"));
    tabs.forEach(function (other) {
      other.addEventListener("click", function () {
        // The other tabs show their own lists; this one hides them (a11y.js, when present, does the same).
        var mine = other === tab;
        if (mine) {
          tabs.forEach(function (b) {
            b.classList.toggle("active", b === tab);
            b.setAttribute("aria-selected", b === tab ? "true" : "false");
            var panel = $(b.id.replace(/^tab-/, "list-"));
            if (panel) { panel.hidden = b !== tab; }
          });
        } else {
          tab.classList.remove("active");
          tab.setAttribute("aria-selected", "false");
          $("list-queue").hidden = true;
        }
        show(mine);
      });
    });
    $("filters").addEventListener("submit", function () { if (queue.active) { setTimeout(function () { load(0); }, 0); } else { queue.loaded = false; } });
    document.addEventListener("keydown", onKey);
    document.addEventListener("gv:patrol", function () {  // map.js drew a patrol: ring the flag under review
      var flag = queue.active && queue.items[queue.index], markers = GV.mapState && GV.mapState.markers;
      var marker = flag && markers && markers[flag.flag_id];
      if (marker && marker.getElement()) { marker.getElement().classList.add("queue-current"); }
    });
    document.addEventListener("gv:reviewed", function () { queue.loaded = false; if (queue.active) { load(queue.index); } });
    GV.i18n.onChange(function () {
      if (!queue.loaded) { return; }
      renderList();
      if (queue.index >= 0 && queue.items[queue.index]) { renderCard(queue.items[queue.index]); }
    });
  }

  GV.queue = { load: load, select: select, state: queue };
  start();
}());
