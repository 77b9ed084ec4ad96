"""The auditor's workbench in a real Chromium (issue #14): the review queue ordered by what is at
stake, evidence in words with units and thresholds, what a decision will do said before it is
taken, clearing a queue with the keyboard alone, the review history on the page and in both
reports, overturning only after a second confirmation with a reason, reviewed stretches drawn
apart from open ones, credit explained, and server errors in the page's language."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import sign_in

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT_H = 900


def open_queue(page):
    page.wait_for_selector("body.map-ready")
    page.click("#tab-queue")
    page.locator("#list-queue .queue-item").first.wait_for()


def open_patrol_by_link(page, server, patrol_id: str, role: str = "auditor"):
    sign_in(page, server, role, path=f"/map#patrol={patrol_id}")
    page.wait_for_selector(f"#patrol-figures[data-patrol-id='{patrol_id}']")
    page.wait_for_selector("path.track")


def open_flag_popup(page, code: str):
    page.locator(f".gv-flag[data-code='{code}']").first.click()
    popup = page.locator(f".flag-popup-body[data-code='{code}']")
    popup.wait_for()
    return popup


def evidence_rows(scope) -> dict:
    table = scope.locator(".evidence-rows").first
    return dict(zip(table.locator("th").all_inner_texts(), table.locator("td").all_inner_texts()))


def ignore_statuses(page, *statuses):
    """The page asked for an answer it expected to fail (the browser logs it as a console error)."""
    page.record.console_errors[:] = [
        e for e in page.record.console_errors if not any(f"status of {s}" in e for s in statuses)
    ]


def test_queue_puts_held_credit_first_and_shows_evidence_in_words(page, server):
    sign_in(page, server, "auditor")
    open_queue(page)
    items = page.locator("#list-queue .queue-item")
    listed = [(n.get_attribute("data-code"), n.get_attribute("data-stake")) for n in items.all()]
    status, queue = server.api("/api/v1/flags/queue")
    assert status == 200 and [f["flag_id"] for f in queue["flags"]] == [
        n.get_attribute("data-flag-id") for n in items.all()
    ]
    # held credit first, the patrols that would then earn points before M002's 1.25 h
    assert listed[:4] == [
        ("MOCK_LOCATION", "held_credit"),
        ("DUPLICATE_TRACK", "held_credit"),
        ("DUPLICATE_TRACK", "held_credit"),
        ("TELEPORT", "held_credit"),
    ]
    assert all(kind != "held_credit" for _, kind in listed[4:])
    assert items.nth(0).locator(".stake").inner_text() == "暂扣 5 分"
    assert items.nth(3).locator(".stake").inner_text() == "暂扣·仍不达标"
    # the first flag is open in the card, its patrol on the map
    expect(page.locator("#queue-card")).to_contain_text("审核：虚拟定位")
    expect(page.locator("#queue-card .queue-stake")).to_have_text("暂扣积分：解除后可得 5 分")
    page.wait_for_selector("#patrol-figures[data-patrol-id='M007_20261102']")

    items.nth(3).click()
    card = page.locator("#queue-card[data-flag-id*='TELEPORT']")
    card.wait_for()
    rows = evidence_rows(card)
    assert rows["最高速度"] == "1,052.7 km/h > 阈值 150 km/h"
    assert rows["跳跃距离（扣除定位误差）"] == "2,924 m ≥ 阈值 200 m"
    assert rows["跳跃后停留"] == "1.75 h > 阈值 2.0 min"
    assert rows["跳跃前位置"] == "116.409067, 39.941813（teleport_M002.csv 第 451 行）"
    assert rows["规则版本"] == "builtin-1"
    # raw field names only in the fold, closed
    raw = card.locator("details.evidence-raw")
    assert raw.get_attribute("open") is None
    assert "max_speed_kmh" not in card.inner_text() and "adjusted_distance_m" not in card.inner_text()
    raw.locator("summary").click()
    expect(raw.locator("table.evidence")).to_contain_text("max_speed_kmh")
    # what each decision will do, before it is taken (computed by the service)
    dismiss = card.locator(".review-preview li[data-decision='dismiss']")
    expect(dismiss).to_have_text("排除后：已核定，积分 0；核定时长 1.25 h，覆盖率 90.0 %（核定时长 1.25 h < 2.00 h）")
    expect(card.locator(".review-preview li[data-decision='confirm']")).to_contain_text("确认后：已驳回，积分 0")
    # the note and both buttons are in view at 1400 × 900, above the evidence
    for selector in ("#queue-note", "button.review-dismiss", "button.review-confirm"):
        box = card.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= VIEWPORT_H, selector
    assert card.locator("#queue-note").bounding_box()["y"] < card.locator(".evidence-rows").bounding_box()["y"]
    page.record.assert_clean(server.base)


def test_keyboard_alone_clears_a_queue(page, own_server):
    server = own_server
    sign_in(page, server, "auditor")
    page.wait_for_selector("body.map-ready")
    page.select_option("#f-grid", "DC-01")  # the queue of one grid (M001, M002 and their event reports)
    page.click("#f-apply")
    status, expected = server.api("/api/v1/flags/queue?grid_id=DC-01")
    total = expected["total"]
    assert status == 200 and total >= 3
    page.click("#tab-queue")
    items = page.locator("#list-queue .queue-item")
    expect(items).to_have_count(total)
    # from here on, only the keyboard
    page.keyboard.press("Tab")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(items.nth(1)).to_have_attribute("aria-selected", "true")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(2)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("k")
    page.keyboard.press("ArrowUp")
    expect(items.nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    decided = 0
    # Clear until the queue is empty, each flag with its own note. No decision raises a new flag (a
    # dismissed GAP counts its time but is no stay: it once came back as a LOOP).
    while page.locator("#list-queue .queue-empty").count() == 0:
        assert decided < total, "the queue does not empty"
        note = page.locator("#queue-note")
        expect(note).to_be_focused()
        flag_id = page.locator("#queue-card").get_attribute("data-flag-id")
        decided += 1
        page.keyboard.type(f"键盘审核：第 {decided} 条")
        page.keyboard.press("Tab")
        expect(page.locator("#queue-card button.review-dismiss")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(f"#list-queue .queue-item[data-flag-id='{flag_id}']")).to_have_count(0)
    expect(page.locator("#list-queue .queue-empty")).to_have_text("队列已清空：没有待审核的告警。")
    assert decided == total
    status, flags = server.api("/api/v1/flags?grid_id=DC-01&limit=1000")
    assert {f["status"] for f in flags["flags"]} == {"dismissed"} and flags["total"] == decided
    notes = sorted(f["reviews"][0]["note"] for f in flags["flags"])
    assert notes == sorted(f"键盘审核：第 {k} 条" for k in range(1, decided + 1))
    assert {f["reviews"][0]["reviewer"] for f in flags["flags"]} == {"browser-auditor"}
    page.record.assert_clean(server.base)


def test_history_and_an_overturn_that_needs_a_second_confirmation(page, own_server):
    server = own_server
    open_patrol_by_link(page, server, "M007_20261102")
    assert page.locator("path.track-flagged").count() >= 1 and page.locator("path.track-dismissed").count() == 0
    popup = open_flag_popup(page, "MOCK_LOCATION")
    # the note and buttons come before the evidence
    assert popup.locator(".review-note").bounding_box()["y"] < popup.locator(".evidence-rows").bounding_box()["y"]
    expect(popup.locator(".review-preview li[data-decision='dismiss']")).to_contain_text("排除后：已核定，积分 5")
    popup.locator(".review-note").fill("测试手机，已核实")
    popup.locator(".review-dismiss").click()
    page.wait_for_selector("#credit-status[data-status='verified']")
    popup = page.locator(".flag-popup-body[data-code='MOCK_LOCATION']")
    expect(popup.locator(".review-history")).to_contain_text("已排除 · browser-auditor · 2026-")
    expect(popup.locator(".review-history")).to_contain_text("测试手机，已核实")
    assert popup.locator("button.review-dismiss, button.review-confirm").count() == 0  # no second silent decision
    # a dismissed stretch is drawn apart from open ones
    expect(page.locator("path.track-dismissed").first).to_be_attached()
    assert page.locator("path.track-flagged").count() == 0
    expect(page.locator("#credit-reasons")).to_contain_text("核定时长与覆盖率均达标：得 5 分")
    expect(page.locator("#patrol-panel .flag-decision")).to_contain_text("已排除 · browser-auditor")

    popup.locator("button.review-overturn").click()
    panel = popup.locator(".overturn-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".overturn-title")).to_contain_text("browser-auditor")
    expect(panel.locator(".review-preview li[data-decision='confirm']")).to_contain_text("确认后：已驳回，积分 0")
    panel.locator("button.overturn-confirm").click()  # the second confirmation needs a reason
    expect(popup.locator(".review-message")).to_have_text("请填写审核意见。")
    assert server.api("/api/v1/flags?code=MOCK_LOCATION")[1]["flags"][0]["status"] == "dismissed"
    panel.locator(".overturn-note").fill("监控显示本人整个上午在家")
    panel.locator("button.overturn-confirm").click()
    page.wait_for_selector("#credit-status[data-status='rejected']")
    popup = page.locator(".flag-popup-body[data-code='MOCK_LOCATION']")
    entries = popup.locator(".review-entry-head")
    expect(entries).to_have_count(2)
    assert entries.nth(0).inner_text().startswith("已排除 · browser-auditor")
    assert entries.nth(1).inner_text().startswith("已确认 · browser-auditor")
    expect(page.locator("path.track-confirmed").first).to_be_attached()
    expect(page.locator("#credit-reasons")).to_contain_text("已驳回：browser-auditor 于")
    expect(page.locator("#credit-reasons")).to_contain_text("（理由：监控显示本人整个上午在家）")
    # the service enforces it too: a review without "overturn" answers 409
    flag_id = server.api("/api/v1/flags?code=MOCK_LOCATION")[1]["flags"][0]["flag_id"]
    status, problem = server.api(
        f"/api/v1/flags/{flag_id}/review", method="POST", body={"decision": "dismiss", "note": "again"}
    )
    assert status == 409 and '"overturn": true' in problem["detail"]
    page.record.assert_clean(server.base)


def test_a_server_error_is_shown_in_the_pages_language_with_its_detail_folded(page, own_server):
    server = own_server
    open_patrol_by_link(page, server, "M002_20261102")
    popup = open_flag_popup(page, "TELEPORT")
    # another auditor decides first
    flag_id = server.api("/api/v1/flags?code=TELEPORT")[1]["flags"][0]["flag_id"]
    assert (
        server.api(f"/api/v1/flags/{flag_id}/review", method="POST", body={"decision": "dismiss", "note": "tunnel"})[0]
        == 200
    )
    popup.locator(".review-note").fill("我也来审核")
    popup.locator(".review-confirm").click()
    message = popup.locator(".review-message .problem")
    expect(message.locator(".problem-message")).to_have_text(
        "此告警已有审核结论。改判需要点“改判…”，再次确认并填写理由。"
    )
    details = message.locator("details.problem-details")
    assert details.get_attribute("open") is None
    details.locator("summary").click()
    expect(details.locator("code")).to_contain_text("409 ReviewConflict")
    expect(details.locator("code")).to_contain_text("already dismissed by browser-auditor")
    page.click("#lang-switch")  # the same in English (the open popup is drawn again)
    popup = page.locator(".flag-popup-body[data-code='TELEPORT']")
    popup.locator(".review-note").fill("me too")
    popup.locator(".review-confirm").click()
    expect(popup.locator(".review-message .problem-message")).to_have_text(
        "This flag was already decided. To change it, press “Overturn…”, confirm again and give a reason."
    )
    ignore_statuses(page, 409)
    page.record.assert_clean(server.base)


def test_both_reports_show_the_reviews_and_why_the_points(page, own_server):
    server = own_server
    flag_id = server.api("/api/v1/flags?code=MOCK_LOCATION")[1]["flags"][0]["flag_id"]
    url = f"/api/v1/flags/{flag_id}/review"
    assert server.api(url, method="POST", body={"decision": "dismiss", "note": "测试手机"})[0] == 200
    assert (
        server.api(url, method="POST", body={"decision": "confirm", "note": "监控显示在家", "overturn": True})[0] == 200
    )
    sign_in(page, server, "auditor", path="/map/report/patrol/M007_20261102")
    page.wait_for_selector("body.report-ready")
    body = page.locator("#report-body")
    expect(page.locator("#report-reasons")).to_contain_text("已驳回：browser-auditor 于")
    expect(page.locator("#report-reasons")).to_contain_text("理由：监控显示在家")
    flag = body.locator(".report-flag[data-code='MOCK_LOCATION']")
    assert evidence_rows(flag)["虚拟定位点数"] == "360"
    history = flag.locator(".review-history .review-entry")
    expect(history).to_have_count(2)
    assert "测试手机" in history.nth(0).inner_text() and "监控显示在家" in history.nth(1).inner_text()
    assert "mock_fixes" not in body.inner_text() and "MOCK_LOCATION" not in body.inner_text()
    page.emulate_media(media="print")
    assert not flag.locator("details.evidence-raw").is_visible()
    page.emulate_media(media="screen")

    page.goto(server.base + "/map/report/member/M007/2026-11")
    page.wait_for_selector("body.report-ready")
    day = page.locator("table.days tbody tr").first
    expect(day).to_contain_text("虚拟定位（已确认 · browser-auditor）")
    expect(day).to_contain_text("驳回：虚拟定位（browser-auditor）")
    reviews = page.locator("table.reviews tbody tr")
    expect(reviews).to_have_count(2)
    expect(reviews.nth(1)).to_contain_text("已确认")
    expect(reviews.nth(1)).to_contain_text("监控显示在家")
    page.goto(server.base + "/map/report/member/M002/2026-11")
    page.wait_for_selector("body.report-ready")
    expect(page.locator("table.days tbody tr").first).to_contain_text("暂扣：瞬移待审核；核定时长 1.25 h < 2.00 h")
    expect(page.locator("#report-body")).to_contain_text("尚无审核记录")
    page.record.assert_clean(server.base)


def test_credit_is_explained_in_the_panel_and_the_list_in_both_languages(page, server):
    open_patrol_by_link(page, server, "M002_20261102")
    reasons = page.locator("#credit-reasons")
    expect(reasons.locator("[data-rule='held']")).to_have_text("✗ 暂扣：瞬移告警待审核，高风险告警审核前不计积分")
    expect(reasons.locator("[data-rule='verified_time']")).to_have_text("✗ 核定时长 1.25 h < 要求 2.00 h")
    expect(reasons.locator("[data-rule='coverage']")).to_have_text("✓ 覆盖率 89.9 % ≥ 要求 50.0 %")
    expect(reasons.locator("[data-rule='points']")).to_have_text("→ 审核解除后仍不达标，不计积分")
    page.click("#tab-patrols")
    expect(page.locator(".patrol-item[data-patrol-id='M002_20261102'] .item-reason")).to_have_text(
        "暂扣：瞬移待审核；核定时长 1.25 h < 2.00 h"
    )
    expect(page.locator(".patrol-item[data-patrol-id='M004_20261102'] .item-reason")).to_have_text("达标")
    page.click("#lang-switch")
    expect(reasons.locator("[data-rule='verified_time']")).to_have_text("✗ Verified time 1.25 h < required 2.00 h")
    expect(page.locator(".patrol-item[data-patrol-id='M002_20261102'] .item-reason")).to_have_text(
        "held: Teleport open; verified 1.25 h < 2.00 h"
    )
    page.click(".patrol-item[data-patrol-id='M004_20261102']")
    page.wait_for_selector("#patrol-figures[data-patrol-id='M004_20261102']")
    expect(page.locator("#credit-reasons [data-rule='verified_time']")).to_have_text(
        "✓ Verified time 2.33 h ≥ required 2.00 h (in grid 3.00 h, less Idle 0.67 h)"
    )
    page.record.assert_clean(server.base)


def test_screenshot_of_the_queue(page, server, tmp_path):
    """docs/queue.png for docs/map.md (M002's TELEPORT in the review queue): written when
    $GEOVERIFY_UPDATE_SCREENSHOT=1, else to a temporary folder."""
    sign_in(page, server, "auditor")
    open_queue(page)
    page.locator("#list-queue .queue-item[data-code='TELEPORT']").click()
    card = page.locator("#queue-card[data-flag-id*='TELEPORT']")
    card.wait_for()
    expect(card.locator(".review-preview li[data-decision='confirm']")).to_be_visible()
    page.wait_for_selector("#patrol-figures[data-patrol-id='M002_20261102']")
    card.locator("#queue-note").fill("核实：地铁隧道内信号漂移，已与本人确认")
    page.wait_for_timeout(400)
    target = DOCS / "queue.png" if os.environ.get("GEOVERIFY_UPDATE_SCREENSHOT") == "1" else tmp_path / "queue.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size > 50_000
    page.record.assert_clean(server.base)


def test_a_supervisor_sees_the_history_but_neither_queue_nor_overturn(page, own_server):
    server = own_server
    flag_id = server.api("/api/v1/flags?code=TELEPORT")[1]["flags"][0]["flag_id"]
    assert (
        server.api(f"/api/v1/flags/{flag_id}/review", method="POST", body={"decision": "dismiss", "note": "地铁隧道"})[
            0
        ]
        == 200
    )
    open_patrol_by_link(page, server, "M002_20261102", role="supervisor")
    assert page.locator("#tab-queue").is_hidden()
    popup = open_flag_popup(page, "TELEPORT")
    expect(popup.locator(".review-history")).to_contain_text("已排除 · browser-auditor")
    expect(popup.locator(".review-history")).to_contain_text("地铁隧道")
    assert popup.locator("button.review-overturn, button.review-dismiss, button.review-confirm").count() == 0
    expect(popup.locator(".review-readonly")).to_contain_text("只有审核员")
    expect(page.locator("#credit-reasons [data-rule='points']")).to_have_text("→ 未达标：不计积分（达标可得 5 分）")
    page.record.assert_clean(server.base)
