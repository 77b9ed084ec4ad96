"""Keyboard paths, Escape, the token dialog, labels in the page's language, English mode, automated
accessibility checks (axe-core), gzip, the heat map's place and legend, and flag counts and markers
on the sample day, in a real headless Chromium against a real `geoverify serve`."""

import math
import re

import pytest
from playwright.sync_api import expect

from .conftest import axe_violations, copy_store, start_server, stop_server

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")


def ready(page, server, role="auditor"):
    """The map with the role's token already in the tab (as after signing in once), lists and day drawn."""
    page.add_init_script(f"window.sessionStorage.setItem('gv.token', {server.tokens[role]!r})")
    page.goto(server.base + "/map")
    page.wait_for_selector("body.map-ready")
    page.wait_for_selector("body.day-ready")
    page.wait_for_selector("body[data-role]")  # the token's role is known: the tabs it may use are shown


def focused(page, attribute="id"):
    return page.evaluate(f"() => document.activeElement && document.activeElement.getAttribute('{attribute}')")


def press_tab_until(page, selector, limit):
    """Tab until the focused element matches ``selector``; the number of Tabs, or None past ``limit``."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return n
    return None


def test_a_few_keys_reach_the_flag_tab_and_arrows_move_between_tabs(page, server):
    ready(page, server)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.locator("a.skip-link").first.is_visible()  # shown while focused
    page.keyboard.press("Enter")
    assert focused(page) == "tab-day"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert focused(page) == "tab-flags"
    assert page.get_attribute("#tab-flags", "aria-selected") == "true"
    expect(page.locator("#list-flags")).to_be_visible()
    expect(page.locator("#list-day")).to_be_hidden()
    # one tab stop for the tab list; each tab names the panel it controls
    tabs = page.locator("#tabs [role=tab]:visible").all()
    assert [t.get_attribute("tabindex") for t in tabs] == [
        "0" if t.get_attribute("id") == "tab-flags" else "-1" for t in tabs
    ]
    assert page.get_attribute("#tab-flags", "aria-controls") == "list-flags"
    assert page.get_attribute("#list-flags", "aria-labelledby") == "tab-flags"
    page.keyboard.press("Home")
    assert focused(page) == "tab-day" and page.get_attribute("#tab-day", "aria-selected") == "true"
    page.keyboard.press("ArrowLeft")  # wraps round to the last tab
    assert page.get_attribute("#tabs [role=tab]:visible >> nth=-1", "aria-selected") == "true"
    page.record.assert_clean(server.base)


def test_arrows_skip_a_tab_the_role_cannot_use(page, server):
    """A supervisor has no review queue: its tab stays hidden, and the arrows wrap from the first
    tab to the last one shown (flags), never to the hidden one."""
    ready(page, server, role="supervisor")
    assert page.locator("#tab-queue").is_hidden()
    page.locator("#tab-day").focus()
    page.keyboard.press("ArrowLeft")
    assert focused(page) == "tab-flags"
    assert page.get_attribute("#tab-flags", "aria-selected") == "true"
    assert page.get_attribute("#tab-queue", "aria-selected") == "false"
    page.record.assert_clean(server.base)


def test_the_keyboard_reaches_a_held_patrol_and_its_review(page, server):
    ready(page, server)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # skip to the lists: the day tab
    assert press_tab_until(page, "#day-chips .chip", 2) is not None  # the day, then the state chips: one stop
    assert page.evaluate("() => document.activeElement.getAttribute('data-state')") == "held"
    page.keyboard.press("Enter")  # only the held patrols
    assert press_tab_until(page, "#day-items .item", 3) is not None  # severity, sort, the list
    patrol_id = focused(page, "data-patrol-id")
    page.keyboard.press("ArrowDown")  # arrows move along the list
    assert focused(page, "data-patrol-id") != patrol_id
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # opens it; the focus goes to its panel
    page.wait_for_selector(f"#patrol-figures[data-patrol-id='{patrol_id}']")
    expect(page.locator("#detail")).to_be_focused()
    assert page.get_attribute("#credit-status", "data-status") == "held"
    assert press_tab_until(page, "#patrol-panel button[data-flag-id]", 3) is not None
    page.keyboard.press("Enter")  # its flag: the popup takes the focus
    page.wait_for_selector(".flag-popup-body")
    assert page.evaluate("() => document.activeElement.closest('.leaflet-popup') !== null")
    assert press_tab_until(page, ".review-note, [data-decision]", 6) is not None
    page.record.assert_clean(server.base)


def test_escape_closes_the_flag_popup_and_gives_the_focus_back(page, server):
    ready(page, server)
    page.click("#tab-flags")
    item = page.locator("#list-flags .flag-item[data-code='TELEPORT']")
    item.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".flag-popup-body[data-code='TELEPORT']")
    assert page.evaluate("() => document.activeElement.closest('.leaflet-popup') !== null")
    assert page.get_attribute(".leaflet-popup-close-button", "aria-label") == "关闭弹窗"
    page.keyboard.press("Escape")
    expect(page.locator(".flag-popup-body")).to_have_count(0)
    assert page.evaluate("() => document.activeElement.getAttribute('data-code')") == "TELEPORT"
    page.record.assert_clean(server.base)


def test_the_token_dialog_keeps_the_focus_and_escape_leaves_it(page, server):
    ready(page, server)
    page.click("#token-change")
    expect(page.locator("#login")).to_be_visible()
    assert page.get_attribute("#login", "role") == "dialog" and page.get_attribute("#login", "aria-modal") == "true"
    assert page.evaluate("() => document.getElementById('app').inert")
    expect(page.locator("#token-input")).to_be_focused()
    for key in ["Tab"] * 5 + ["Shift+Tab"] * 5:
        page.keyboard.press(key)
        assert page.evaluate("() => document.getElementById('login').contains(document.activeElement)"), key
    page.keyboard.press("Escape")  # the token in use still works: back to the map with it
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#token-change")).to_be_focused()
    assert not page.evaluate("() => document.getElementById('app').inert")
    assert page.evaluate("() => window.sessionStorage.getItem('gv.token')") == server.tokens["auditor"]
    page.record.assert_clean(server.base)


def test_map_controls_and_markers_speak_the_pages_language(page, server):
    ready(page, server)
    assert CJK.search(page.get_attribute("#map", "aria-label"))
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    assert page.get_attribute(".leaflet-control-zoom-out", "aria-label") == "缩小"
    day_flag = page.locator(".gv-flag.day-flag[data-code='TELEPORT']")
    assert "瞬移" in day_flag.get_attribute("aria-label")
    page.click("#tab-patrols")
    page.click(".patrol-item[data-patrol-id='M002_20261102']")
    marker = page.locator(".gv-flag:not(.day-flag)[data-code='TELEPORT']")
    marker.wait_for()
    assert "瞬移" in marker.get_attribute("title") and "高" in marker.get_attribute("aria-label")
    page.click("#lang-switch")
    assert page.get_attribute("#map", "aria-label").startswith("Map")
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "Zoom in"
    assert "Teleport" in marker.get_attribute("title") and "high" in marker.get_attribute("aria-label")
    page.record.assert_clean(server.base)


def test_english_mode_is_complete(page, server):
    ready(page, server)
    page.click("#lang-switch")
    assert page.title() == "Grid patrol map · geoverify"
    page.click("#tab-patrols")
    page.wait_for_selector(".patrol-item")
    assert page.inner_text(".patrol-item[data-patrol-id='M002_20261102'] .flag-count") == "1 flag"
    assert page.inner_text(".patrol-item[data-patrol-id='M001_20261102'] .flag-count") == "4 flags"
    page.click("#tab-day")
    assert "1 open flag" in page.inner_text("#day-items")
    page.click("#day-items .item[data-patrol-id='M002_20261102']")
    page.wait_for_selector("#patrol-figures[data-patrol-id='M002_20261102']")
    words = page.evaluate("""() => ['#tabs', '#filters label > span', '#day-chips', '#day-controls', '#day-summary',
        '#day-legend', '#legend', '#patrol-figures dt', '.topbar-right > :not(#lang-switch)', '.heat-form h2',
        '.skip-links']
        .flatMap(s => Array.from(document.querySelectorAll(s))).map(n => n.textContent + ' ' +
          (n.getAttribute('aria-label') || '')).join(' ')""")
    assert CJK.findall(words) == [], words
    page.goto(server.base + "/map/report/member/M001/2026-11")  # the report keeps the language
    page.wait_for_selector("body.report-ready")
    assert page.title() == "Patrol report · geoverify"
    headers = " ".join(page.locator("#report-body h3, table.days th").all_inner_texts())
    assert CJK.findall(headers) == [] and "Verified time" in headers
    page.record.assert_clean(server.base)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_axe_finds_no_serious_or_critical_violations(page, server, lang):
    ready(page, server)
    if lang == "en":
        page.click("#lang-switch")
    found = {"day overview": axe_violations(page)}
    page.click("#tab-flags")
    page.wait_for_selector("#list-flags .flag-item")
    found["flag list"] = axe_violations(page)
    page.click("#list-flags .flag-item[data-code='IDLE']")
    page.wait_for_selector(".flag-popup-body[data-code='IDLE']")
    found["patrol with a flag popup"] = axe_violations(page)
    page.keyboard.press("Escape")
    page.select_option("#h-grid", "DC-02")
    page.click("#h-show")
    page.wait_for_selector("#heat-legend")
    found["heat map"] = axe_violations(page)
    page.click("#token-change")
    found["token dialog"] = axe_violations(page)
    page.keyboard.press("Escape")
    page.goto(server.base + "/map/report/patrol/M002_20261102")
    page.wait_for_selector("body.report-ready")
    found["patrol report"] = axe_violations(page)
    assert {view: v for view, v in found.items() if v} == {}
    page.record.assert_clean(server.base)


def test_the_browser_gets_assets_and_json_gzipped(page, server):
    encodings = {}
    page.on(
        "response",
        lambda r: (
            encodings.__setitem__(r.url.split("?")[0].replace(server.base, ""), r.headers.get("content-encoding"))
            if r.status == 200
            else None
        ),
    )
    ready(page, server)
    page.click("#tab-patrols")
    page.click(".patrol-item[data-patrol-id='M001_20261102']")
    page.wait_for_selector("path.track")
    for path in (
        "/static/vendor/leaflet-1.9.4/leaflet.js",
        "/static/vendor/leaflet-1.9.4/leaflet.css",
        "/static/map/map.js",
        "/static/map/overview.js",
        "/map",
        "/api/v1/grids",
        "/api/v1/map/day",
        "/api/v1/map/patrols/M001_20261102/geojson",
        "/api/v1/patrols",
    ):
        assert encodings.get(path) == "gzip", (path, encodings.get(path))
    page.record.assert_clean(server.base)


def test_two_flags_on_one_spot_can_both_be_opened(page, server):
    ready(page, server)
    page.click("#tab-patrols")
    page.click(".patrol-item[data-patrol-id='M001_20261102']")
    page.wait_for_selector("path.track")
    for code in ("EVENT_FAR_FROM_TRACK", "EVENT_OUTSIDE_GRID"):  # both flags of event E006, at one place
        page.locator(f".gv-flag:not(.day-flag)[data-code='{code}']").click(timeout=5000)
        page.wait_for_selector(f".flag-popup-body[data-code='{code}']")
        page.keyboard.press("Escape")
    page.record.assert_clean(server.base)


def test_flag_counts_agree_between_the_list_and_the_panel(page, server):
    ready(page, server)
    page.click("#tab-patrols")
    page.wait_for_selector(".patrol-item")
    assert page.inner_text(".patrol-item[data-patrol-id='M001_20261102'] .flag-count") == "4 条告警"
    page.click(".patrol-item[data-patrol-id='M001_20261102']")
    page.wait_for_selector("#patrol-figures[data-patrol-id='M001_20261102']")
    assert page.locator("#patrol-panel button[data-flag-id]").count() == 4
    assert page.locator(".gv-flag:not(.day-flag)").count() == 4
    page.record.assert_clean(server.base)


def test_the_heat_map_is_zoomed_to_its_grid_above_the_track_with_a_numbered_legend(page, server):
    ready(page, server)
    page.click("#day-items .item[data-patrol-id='M005_20261102']")
    page.wait_for_selector("path.track")
    page.select_option("#h-grid", "DC-03")
    page.fill("#h-date", "2026-11-02")
    page.click("#h-show")
    page.wait_for_selector("#heat-legend")
    view = page.evaluate("""() => {
        const st = GV.mapState, grid = st.gridsById['DC-03'].layer.getBounds(), shown = st.map.getBounds();
        const pane = p => Number(getComputedStyle(st.map.getPane(p)).zIndex);
        const cell = document.querySelector('path.heat-cell');
        return {contains: shown.contains(grid), zoom: st.map.getZoom(), heatPane: pane('gv-heat'),
                overlay: pane('overlayPane'), inHeatPane: Boolean(cell.closest('.leaflet-gv-heat-pane'))};
    }""")
    assert view["contains"] and view["zoom"] >= 16
    assert view["inHeatPane"] and view["heatPane"] > view["overlay"]  # over the track, not under it
    values = page.locator("#heat-legend .heat-value").all_inner_texts()
    assert len(values) == 5 and values[0] == "0 s" and all(re.search(r"\d ?(s|min|h)$", v) for v in values)
    assert values[-1] in page.inner_text("#heat-message")  # the top of the scale is the busiest cell
    page.click("#h-clear")
    expect(page.locator("#heat-legend")).to_have_count(0)
    page.record.assert_clean(server.base)


def test_a_heat_map_with_too_many_cells_says_why_in_the_page(page, sample_store, tmp_path):
    from geoverify.store import Store
    from geoverify.store.ingest import upload

    database, tokens = sample_store
    copy = copy_store(database, tmp_path / "geoverify.db")
    store = Store.open(f"sqlite:///{copy}", tz="Asia/Shanghai")
    side = 0.08  # degrees: about 6.8 km by 8.9 km, over 1000 cells of 5 m a side
    ring = [[116.3, 39.8], [116.3 + side, 39.8], [116.3 + side, 39.8 + side], [116.3, 39.8 + side], [116.3, 39.8]]
    upload(
        store,
        "grids",
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
            '{"grid_id": "RURAL-1", "name": "郊区网格", "members": []}, "geometry": '
            '{"type": "Polygon", "coordinates": [' + str(ring) + "]}}]}"
        ).encode(),
        suffix=".geojson",
        actor="tests",
        wait=math.inf,
    )
    store.dispose()
    server = start_server(copy, tokens, tmp_path / "server.log")
    try:
        ready(page, server)
        page.select_option("#h-grid", "RURAL-1")
        page.fill("#h-date", "2026-11-02")
        page.fill("#h-cell", "5")
        page.click("#h-show")
        message = page.locator("#heat-message")
        expect(message).to_contain_text("无法绘制热力图")
        assert "5" in message.inner_text() and "error" in message.get_attribute("class")
        assert message.get_attribute("role") == "status"
        page.record.console_errors[:] = [e for e in page.record.console_errors if "422" not in e]
        page.record.assert_clean(server.base)
    finally:
        stop_server(server)
