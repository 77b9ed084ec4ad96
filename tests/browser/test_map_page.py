"""The map page in a real headless Chromium against a real `geoverify serve` process."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import sign_in

pytestmark = pytest.mark.browser

TELEPORT_PATROL = "M002_20261102"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def show_patrols(page) -> None:
    """The patrols tab (the page opens on the day overview) with its list loaded."""
    page.click("#tab-patrols")
    page.wait_for_selector(".patrol-item")


def open_patrol(page, patrol_id: str) -> None:
    if not page.locator(".patrol-item").first.is_visible():
        show_patrols(page)
    page.click(f".patrol-item[data-patrol-id='{patrol_id}']")
    page.wait_for_selector(f"#patrol-figures[data-patrol-id='{patrol_id}']")
    page.wait_for_selector("path.track")


def open_flag_popup(page, code: str):
    marker = page.locator(f".gv-flag[data-code='{code}']")
    marker.first.click()
    popup = page.locator(f".flag-popup-body[data-code='{code}']")
    popup.wait_for()
    return popup


def test_page_draws_grids_and_a_track_with_nothing_from_other_hosts(page, server):
    response = page.goto(server.base + "/map")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    page.fill("#token-input", server.tokens["auditor"])
    page.click("#token-form button[type=submit]")
    show_patrols(page)
    assert page.locator("path.grid-outline").count() == 6
    assert any("东四第一网格" in text for text in page.locator(".grid-label").all_text_contents())
    open_patrol(page, TELEPORT_PATROL)
    parts = {page.locator(f"path.track-{part}").count() for part in ("in_grid", "outside", "flagged")}
    assert 0 not in parts, "in-grid, outside and flagged parts are all drawn"
    assert page.locator("path.covered").count() >= 1
    assert page.locator(".gv-flag[data-code='TELEPORT']").count() == 1
    # the track's SVG path has the simplified track's vertices
    d = page.locator("path.track-in_grid").first.get_attribute("d")
    assert len(re.findall(r"[ML]", d)) > 50
    page.record.assert_clean(server.base)
    assert any("/static/vendor/leaflet-1.9.4/leaflet.js" in url for url in page.record.requests)


def test_patrol_panel_shows_figures_with_units_and_times_in_the_grid_zone(page, server):
    sign_in(page, server, "auditor")
    open_patrol(page, TELEPORT_PATROL)
    assert page.inner_text("#fig-in-grid") == "1.25 h"
    assert page.inner_text("#fig-coverage").endswith("%")
    assert page.inner_text("#fig-sites") == "0 / 4"
    # the browser runs in Europe/London; times are shown in Asia/Shanghai, as the API gives them
    assert "2026-11-02 08:30:00 – 11:29:50" in page.inner_text("#patrol-panel")
    assert page.get_attribute("#credit-status", "data-status") == "held"
    assert page.inner_text("#credit-status") == "暂扣"
    page.record.assert_clean(server.base)


def test_flag_popup_shows_the_evidence(page, server):
    sign_in(page, server, "auditor")
    open_patrol(page, TELEPORT_PATROL)
    popup = open_flag_popup(page, "TELEPORT")
    text = popup.inner_text()
    assert "瞬移" in text and "TELEPORT" in text
    assert "2026-11-02 09:44:50 – 09:45:00" in text
    # the evidence in words with units and thresholds (evidence.js); the raw fields in a closed fold
    rows = dict(
        zip(popup.locator(".evidence-rows th").all_inner_texts(), popup.locator(".evidence-rows td").all_inner_texts())
    )
    assert rows["最高速度"] == "1,052.7 km/h > 阈值 150 km/h"
    assert rows["跳跃距离"].endswith(" m")
    assert rows["规则版本"] == "builtin-1"
    raw = popup.locator("details.evidence-raw")
    raw.locator("summary").click()
    raw_rows = dict(zip(raw.locator(".evidence th").all_inner_texts(), raw.locator(".evidence td").all_inner_texts()))
    assert raw_rows["teleport_kmh"] == "150.0 km/h"
    assert float(raw_rows["max_speed_kmh"].split()[0].replace(",", "")) > 1000
    page.record.assert_clean(server.base)


def test_auditor_dismisses_the_teleport_flag_and_the_credit_is_no_longer_held(page, own_server):
    server = own_server
    sign_in(page, server, "auditor")
    open_patrol(page, TELEPORT_PATROL)
    assert page.get_attribute("#credit-status", "data-status") == "held"
    popup = open_flag_popup(page, "TELEPORT")
    popup.locator(".review-dismiss").click()
    assert "请填写审核意见" in popup.locator(".review-message").inner_text()  # the note is required
    popup.locator(".review-note").fill("核实：隧道内信号漂移")
    popup.locator(".review-dismiss").click()
    page.wait_for_selector("#credit-status:not([data-status='held'])")
    assert page.get_attribute("#credit-status", "data-status") == "verified"
    assert page.inner_text("#credit-status") == "已核定"
    page.wait_for_selector(".patrol-item[data-patrol-id='M002_20261102'] .credit-verified")
    status, flags = server.api("/api/v1/flags?code=TELEPORT&member_id=M002")
    assert status == 200 and [f["status"] for f in flags["flags"]] == ["dismissed"]
    page.record.assert_clean(server.base)


def test_supervisor_sees_the_flag_but_no_review_buttons(page, server):
    sign_in(page, server, "supervisor")
    show_patrols(page)
    assert page.locator("path.grid-outline").count() == 1  # scoped to DC-01
    open_patrol(page, TELEPORT_PATROL)
    popup = open_flag_popup(page, "TELEPORT")
    assert popup.locator(".evidence").count() == 1
    assert popup.locator("button.review-confirm, button.review-dismiss").count() == 0
    assert "只有审核员" in popup.locator(".review-readonly").inner_text()
    status, flags = server.api("/api/v1/flags?code=TELEPORT&member_id=M002", role="supervisor")
    flag_id = flags["flags"][0]["flag_id"]
    status, problem = server.api(
        f"/api/v1/flags/{flag_id}/review",
        role="supervisor",
        method="POST",
        body={"decision": "dismiss", "note": "not mine to decide"},
    )
    assert status == 403, problem
    page.record.assert_clean(server.base)


def test_language_switch_changes_labels_from_chinese_to_english(page, server):
    sign_in(page, server, "auditor")
    show_patrols(page)
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#tab-patrols") == "巡查"
    assert page.inner_text("#f-apply") == "查询"
    open_patrol(page, TELEPORT_PATROL)
    open_flag_popup(page, "TELEPORT")
    page.click("#lang-switch")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#tab-patrols") == "Patrols"
    assert page.inner_text("#f-apply") == "Search"
    assert page.inner_text("#credit-status") == "held"
    assert "Legend" in page.inner_text("#legend")
    assert "Teleport" in page.locator(".flag-popup-body").inner_text()
    page.click("#lang-switch")
    assert page.inner_text("#tab-patrols") == "巡查"
    page.record.assert_clean(server.base)


def test_filters_page_the_lists_and_the_flag_list_opens_a_patrol(page, server):
    sign_in(page, server, "auditor")
    show_patrols(page)
    assert page.locator(".patrol-item").count() == 12
    page.fill("#f-member", "M002")
    page.click("#f-apply")
    expect(page.locator(".patrol-item")).to_have_count(1)  # (wait_for_function would need 'unsafe-eval')
    page.click("#tab-flags")
    page.select_option("#f-code", "TELEPORT")
    page.click("#f-apply")
    expect(page.locator("#list-flags .flag-item")).to_have_count(1)
    page.click("#list-flags .flag-item[data-code='TELEPORT']")
    page.wait_for_selector(".flag-popup-body[data-code='TELEPORT']")
    assert page.get_attribute("#patrol-figures", "data-patrol-id") == TELEPORT_PATROL
    page.record.assert_clean(server.base)


def test_heat_map_of_a_grid_day(page, server):
    sign_in(page, server, "auditor")
    show_patrols(page)
    page.select_option("#h-grid", "DC-01")
    page.fill("#h-date", "2026-11-02")
    page.click("#h-show")
    page.wait_for_selector("path.heat-cell")
    assert page.locator("path.heat-cell").count() > 50
    assert "DC-01" in page.inner_text("#heat-message") and " h" in page.inner_text("#heat-message")
    page.record.assert_clean(server.base)


def test_printable_patrol_and_member_reports(page, server):
    sign_in(page, server, "auditor", path=f"/map/report/patrol/{TELEPORT_PATROL}")
    page.wait_for_selector("body.report-ready")
    assert "M002" in page.inner_text("#report-heading")
    assert page.locator("#report-map path.track").count() >= 3
    assert "最高速度" in page.inner_text("#report-body") and "max_speed_kmh" not in page.inner_text("#report-body")
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible() and not page.locator("#print").is_visible()
    page.emulate_media(media="screen")
    # the token stays in this tab's sessionStorage: the month report needs no new sign-in
    page.goto(server.base + "/map/report/member/M001/2026-11")
    page.wait_for_selector("body.report-ready")
    assert "M001" in page.inner_text("#report-heading") and "2026-11" in page.inner_text("#report-heading")
    assert page.locator("table.days tbody tr").count() == 1
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.record.assert_clean(server.base)


def test_screenshot_of_the_sample_day(page, server, tmp_path):
    """docs/map.png for the README (the loop of M005 in DC-03 and the day's heat map there):
    written when $GEOVERIFY_UPDATE_SCREENSHOT=1, else to a temporary folder."""
    sign_in(page, server, "auditor")
    show_patrols(page)
    page.select_option("#h-grid", "DC-03")
    page.fill("#h-date", "2026-11-02")
    page.click("#h-show")
    page.wait_for_selector("path.heat-cell")
    open_patrol(page, "M005_20261102")
    open_flag_popup(page, "LOOP")
    page.locator("#sidebar").evaluate("node => { node.scrollTop = 0; }")
    page.wait_for_timeout(600)  # the map pans the popup into view
    target = DOCS / "map.png" if os.environ.get("GEOVERIFY_UPDATE_SCREENSHOT") == "1" else tmp_path / "map.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 50_000
    page.record.assert_clean(server.base)


def test_an_unknown_token_is_refused_and_asked_again(page, server):
    page.goto(server.base + "/map")
    page.fill("#token-input", "gv_not-a-real-token")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-message")).to_contain_text("令牌无效")
    assert page.locator("body.needs-token").count() == 1
    assert page.evaluate("() => window.sessionStorage.getItem('gv.token')") is None
    page.fill("#token-input", server.tokens["supervisor"])
    page.click("#token-form button[type=submit]")
    show_patrols(page)
    assert page.evaluate("() => window.sessionStorage.getItem('gv.token')") == server.tokens["supervisor"]
    # the API answered 401 once, on purpose; nothing else failed
    page.record.console_errors[:] = [e for e in page.record.console_errors if "401" not in e]
    page.record.assert_clean(server.base)
