/* Keyboard and screen-reader paths of the map pages: skip links that move the focus, tabs with
   arrow keys, arrow keys along lists, Escape closes the open popup (and the token dialog when a
   token is still valid), the token dialog keeps the focus while it is open, popups fit a narrow
   map, and Leaflet's controls and the flag markers speak the page's language. */
(function () {
  "use strict";

  var GV = window.GV, t = GV.i18n.t;
  var body = document.body;
  var opened = { popup: null, opener: null };

  /* ---------------- skip links ---------------- */
  function focusTarget(node) {
    if (!node) { return; }
    if (node.getAttribute("role") === "tablist") {
      var tab = node.querySelector("[role=tab][aria-selected=true]") || node.querySelector("[role=tab]");
      if (tab) { tab.focus(); return; }
    }
    if (node.tabIndex < 0 && !node.hasAttribute("tabindex")) { node.setAttribute("tabindex", "-1"); }
    node.focus();
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.skip-link");
    if (!link) { return; }
    event.preventDefault();
    focusTarget(document.getElementById(link.getAttribute("href").slice(1)));
  });

  /* ---------------- tabs: roles, roving tabindex, arrow keys ---------------- */
  function tabsOf(list) { return Array.prototype.slice.call(list.querySelectorAll("[role=tab]")); }
  function panelOf(tab) { var id = tab.getAttribute("aria-controls"); return id ? document.getElementById(id) : null; }

  function syncTabs(list) {
    tabsOf(list).forEach(function (tab) {
      if (!tab.getAttribute("aria-controls")) {  // tab-x controls list-x, by the page's convention
        var guess = document.getElementById(tab.id.replace(/^tab-/, "list-"));
        if (guess) { tab.setAttribute("aria-controls", guess.id); }
      }
      var panel = panelOf(tab);
      if (panel) { panel.setAttribute("role", "tabpanel"); panel.setAttribute("aria-labelledby", tab.id); }
      tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
    });
  }

  function selectTab(list, chosen) {
    tabsOf(list).forEach(function (tab) {
      var on = tab === chosen;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.classList.toggle("active", on);
      var panel = panelOf(tab);
      if (panel) { panel.hidden = !on; }
    });
    syncTabs(list);
  }

  function initTabs(list) {
    list.addEventListener("click", function (event) {
      var tab = event.target.closest("[role=tab]");
      if (tab && list.contains(tab)) { selectTab(list, tab); }
    });
    list.addEventListener("keydown", function (event) {
      // Arrows move among the tabs shown: a hidden tab (the review queue before the role is known,
      // or for a role that cannot review) is never focused.
      var tabs = tabsOf(list).filter(function (tab) { return !tab.hidden; });
      var i = tabs.indexOf(document.activeElement);
      var to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (i < 0 || to === undefined) { return; }
      event.preventDefault();
      var tab = tabs[(to + tabs.length) % tabs.length];
      tab.focus();
      tab.click();
    });
    new MutationObserver(function () { syncTabs(list); })
      .observe(list, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-selected"] });
    syncTabs(list);
  }
  document.querySelectorAll("[role=tablist]").forEach(initTabs);

  /* Arrow keys along a group with one tab stop ([data-roving-group]: the day's state chips and
     patrols), and up and down along the other lists of items (patrols, flags). */
  var STEP = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
  document.addEventListener("keydown", function (event) {
    if (!(event.key in STEP) && event.key !== "Home" && event.key !== "End") { return; }
    var node = event.target, items;
    var group = node.closest && node.hasAttribute("data-roving") && node.closest("[data-roving-group]");
    if (group) {
      items = Array.prototype.slice.call(group.querySelectorAll("[data-roving]"));
    } else {
      node = node.closest && node.closest(".items .item");
      if (!node || event.key === "ArrowLeft" || event.key === "ArrowRight") { return; }
      items = Array.prototype.slice.call(node.closest(".items").querySelectorAll(".item"));
    }
    var i = items.indexOf(node);
    var to = event.key === "Home" ? 0 : event.key === "End" ? items.length - 1 : i + STEP[event.key];
    if (i < 0 || to < 0 || to >= items.length) { return; }
    event.preventDefault();
    if (group) { items.forEach(function (item, k) { item.tabIndex = k === to ? 0 : -1; }); }
    items[to].focus();
  });

  /* ---------------- the token dialog: modal while open ---------------- */
  var login = document.getElementById("login");
  var main = document.querySelector("main");
  function loginOpen() { return body.classList.contains("needs-token"); }
  function dismissable() { return Boolean(GV.session && GV.token.get()); }
  if (login) {
    login.setAttribute("role", "dialog");
    login.setAttribute("aria-modal", "true");
    login.setAttribute("aria-labelledby", "token-label");
    var wasOpen = loginOpen();
    var sync = function () {
      var open = loginOpen();
      if (main) { main.inert = open; }
      if (open && !wasOpen) { opened.beforeLogin = opened.lastOutside; }
      var active = document.activeElement;  // hiding the dialog may already have dropped its focus to the body
      if (!open && wasOpen && opened.focusInLogin && (login.contains(active) || active === body || !active)) {
        var back = opened.beforeLogin;  // where the dialog was opened from, else the start of the lists
        if (!back || back === body || !document.contains(back) || back.offsetParent === null) {
          back = document.querySelector("[role=tablist] [role=tab][aria-selected=true]") || main;
        }
        focusTarget(back);
      }
      if (!open) { opened.focusInLogin = false; }
      wasOpen = open;
    };
    new MutationObserver(sync).observe(body, { attributes: true, attributeFilter: ["class"] });
    sync();
    login.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || !loginOpen()) { return; }
      var focusable = Array.prototype.slice.call(login.querySelectorAll("input, button, a[href], textarea, select"))
        .filter(function (node) { return !node.disabled && node.offsetParent !== null; });
      if (!focusable.length) { return; }
      var first = focusable[0], last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    });
    document.addEventListener("focusin", function (event) {  // focus that lands outside while open goes back in
      if (login.contains(event.target)) { opened.focusInLogin = true; } else { opened.lastOutside = event.target; }
      if (loginOpen() && !login.contains(event.target) && !event.target.closest(".topbar")) {
        document.getElementById("token-input").focus();
      }
    });
  }

  /* A patrol opened from the keyboard (Enter on a list item: a click with detail 0) takes the focus
     to its panel, so that the next Tab reaches its flags. */
  var toDetail = false;
  document.addEventListener("click", function (event) {
    var item = event.target.closest && event.target.closest("button[data-patrol-id]");
    toDetail = Boolean(item && event.detail === 0);
  }, true);
  document.addEventListener("gv:patrol", function (event) {
    if (toDetail && event.detail.patrolId) { focusTarget(document.getElementById("detail")); }
    toDetail = false;
  });

  /* ---------------- Escape ---------------- */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    if (loginOpen()) {
      if (dismissable()) { body.classList.remove("needs-token"); event.preventDefault(); }
      return;
    }
    if (opened.popup && opened.popup.map) {
      opened.popup.map.closePopup(opened.popup.popup);
      event.preventDefault();
    }
  });

  /* ---------------- the map: popups and labels ---------------- */
  function relabelMap(map) {
    var box = map.getContainer();
    [["leaflet-control-zoom-in", "map.zoom_in"], ["leaflet-control-zoom-out", "map.zoom_out"]].forEach(function (pair) {
      box.querySelectorAll("." + pair[0]).forEach(function (a) { a.title = t(pair[1]); a.setAttribute("aria-label", t(pair[1])); });
    });
    box.querySelectorAll(".leaflet-popup-close-button").forEach(function (a) { a.setAttribute("aria-label", t("popup.close")); });
    var member = GV.mapState && GV.mapState.geojson ? GV.mapState.geojson.properties.member_id : null;
    box.querySelectorAll(".gv-flag[data-code]:not(.day-flag)").forEach(function (node) {
      var cls = node.className, sev = /sev-(\w+)/.exec(cls), status = /flag-(\w+)/.exec(cls);
      var label = GV.flagMarkerLabel({ code: node.getAttribute("data-code"), severity: sev ? sev[1] : "",
        status: status ? status[1] : "", member_id: member });
      node.title = label;
      node.setAttribute("aria-label", label);
    });
  }

  function attach(map) {
    if (map.gvA11y) { return; }
    map.gvA11y = true;
    map.on("popupopen", function (event) {
      var popup = event.popup, room = map.getSize().x - 70;
      if (popup.options.maxWidth > room) {  // a narrow map (1024 px screens): the popup fits inside it
        popup.options.maxWidth = Math.max(room, 160);
        popup.options.minWidth = Math.min(popup.options.minWidth || 50, popup.options.maxWidth);
        popup.update();
      }
      var content = popup.getElement(), active = document.activeElement;
      if (active && active !== body && !(content && content.contains(active))) { opened.opener = active; }
      opened.popup = { map: map, popup: popup };
      relabelMap(map);
      var inner = content && content.querySelector(".leaflet-popup-content");
      if (inner) {
        inner.setAttribute("tabindex", "-1");
        inner.setAttribute("role", "dialog");
        var heading = inner.querySelector("h3");
        if (heading) { heading.id = heading.id || "popup-heading"; inner.setAttribute("aria-labelledby", heading.id); }
        inner.focus({ preventScroll: true });
      }
    });
    map.on("popupclose", function (event) {
      var content = event.popup.getElement(), inside = content && content.contains(document.activeElement);
      var opener = opened.opener;
      if (opened.popup && opened.popup.popup === event.popup) { opened.popup = null; }
      if ((inside || document.activeElement === body) && opener && document.contains(opener)) { opener.focus(); }
    });
    relabelMap(map);
    GV.i18n.onChange(function () { relabelMap(map); });
  }

  document.addEventListener("gv:grids", function () { if (GV.mapState && GV.mapState.map) { attach(GV.mapState.map); } });
  document.addEventListener("gv:patrol", function () { if (GV.mapState && GV.mapState.map) { relabelMap(GV.mapState.map); } });
}());
