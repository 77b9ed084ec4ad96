"""The auditor's review queue on the city day (500 patrols, 75 open flags; tests/browser/city_day.py) in
a real headless Chromium against a real `geoverify serve` (issue #14): the queue's order, clearing
held credit with the keyboard alone, the decisions' history, an overturn that needs a second
confirmation, axe-core on the queue, and the timings of the queue and the assessment page.

The day is built once per session (``city_store`` in conftest.py); a test that reviews gets its own
copy of the store (``own_city``)."""

import statistics

import pytest
from playwright.sync_api import expect

from . import city_day
from .conftest import axe_violations, sign_in

pytestmark = pytest.mark.browser

CLEARED = 3  # flags cleared with the keyboard
RUNS = 5  # timings: medians of this many
# Clicks ``click`` and answers the milliseconds until ``until`` matches (and ``gone`` no longer does),
# measured inside the page; null after 30 s.
CLICK_UNTIL = """async ({click, until, gone}) => {
  const done = () => document.querySelector(until) !== null && (!gone || document.querySelector(gone) === null);
  const t0 = performance.now();
  document.querySelector(click).click();
  return await new Promise(resolve => {
    if (done()) { resolve(performance.now() - t0); return; }
    const observer = new MutationObserver(() => {
      if (done()) { observer.disconnect(); clearTimeout(timer); resolve(performance.now() - t0); } });
    const timer = setTimeout(() => { observer.disconnect(); resolve(null); }, 30000);
    observer.observe(document.body, {childList: true, subtree: true, attributes: true});
  });
}"""
# Records when the body first gets the class ``assessment-ready``, from the start of navigation.
READY_MARK = """new MutationObserver((m, observer) => {
  if (document.body && document.body.classList.contains('assessment-ready')) {
    window.gvAssessmentReady = performance.now(); observer.disconnect(); }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['class']});"""


def preview_line(page_card, decision: str = "dismiss"):
    return page_card.locator(f".review-preview li[data-decision='{decision}']")


def expected_dismissal(server, flag_id: str) -> str:
    """The preview's dismissal line as the page must word it, from GET /flags/{id}/preview."""
    status, preview = server.api(f"/api/v1/flags/{flag_id}/preview")
    assert status == 200
    out = preview["outcomes"]["dismiss"]
    return (
        f"排除后：{ {'verified': '已核定', 'held': '暂扣', 'rejected': '已驳回'}[out['credit']['status']] }"
        f"，积分 {out['credit']['points']}；核定时长 {out['verified_s'] / 3600:.2f} h，"
        f"覆盖率 {out['coverage_ratio'] * 100:.1f} %"
    )


def test_the_queue_lists_the_days_open_flags_held_credit_first(page, city):
    status, queue = city.api("/api/v1/flags/queue?limit=1000")
    status_day, day = city.api("/api/v1/map/day", role="supervisor")
    assert status == 200 and status_day == 200
    open_flags = [f for f in day["flags"] if f["status"] == "open"]
    assert queue["total"] == len(open_flags) == 75
    sign_in(page, city, "auditor")
    page.wait_for_selector("body.map-ready")
    page.click("#tab-queue")
    items = page.locator("#list-queue .queue-item")
    expect(items).to_have_count(queue["total"])
    assert [n.get_attribute("data-flag-id") for n in items.all()] == [f["flag_id"] for f in queue["flags"]]
    kinds = [n.get_attribute("data-stake") for n in items.all()]
    # every held patrol of the day (20 teleports, 10 mock locations) heads the queue, one flag each
    held = {p["patrol_id"] for p in day["patrols"] if p["state"] == "held"}
    assert len(held) == 30 and kinds[:30] == ["held_credit"] * 30 and "held_credit" not in kinds[30:]
    assert {f["patrol_id"] for f in queue["flags"][:30]} == held
    assert {f["code"] for f in queue["flags"][:30]} == {"TELEPORT", "MOCK_LOCATION"}
    # within held credit, the patrols that earn points once released come first
    points = [f["stake"]["points"] for f in queue["flags"][:30]]
    assert points == sorted(points, reverse=True) and points[0] == 5
    assert items.nth(0).locator(".stake").inner_text() == "暂扣 5 分"
    # then patrol time given back (IDLE, LOOP), most first; the event reports' flags last
    seconds = [f["stake"]["seconds"] for f in queue["flags"][30:] if f["stake"]["kind"] == "time"]
    assert seconds == sorted(seconds, reverse=True) and len(seconds) == 41
    assert all(f["event_id"] for f in queue["flags"] if f["stake"]["kind"] == "none")
    expect(page.locator("#queue-card .queue-position")).to_have_text("第 1 / 75 条")
    page.record.assert_clean(city.base)


def test_an_auditor_clears_held_credit_with_the_keyboard_alone(page, own_city):
    server = own_city
    status, before = server.api("/api/v1/flags/queue?limit=1000")
    assert status == 200
    sign_in(page, server, "auditor")
    page.wait_for_selector("body.day-ready")
    page.wait_for_load_state("networkidle")
    page.reload()  # the token stays in the tab; the focus starts at the top of the page
    page.wait_for_selector("body.map-ready")
    page.wait_for_selector("body.day-ready")
    items = page.locator("#list-queue .queue-item")
    # from here on, only the keyboard: 2 Tabs from the page to the queue's first flag
    page.keyboard.press("Tab")  # the skip link to the lists
    page.keyboard.press("Enter")  # the selected tab (the day overview)
    page.keyboard.press("End")  # the last tab: the review queue
    expect(page.locator("#tab-queue")).to_have_attribute("aria-selected", "true")
    expect(items).to_have_count(before["total"])
    page.keyboard.press("Tab")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("Enter")  # into the note of the flag in the card
    note = page.locator("#queue-note")
    expect(note).to_be_focused()
    page.keyboard.press("Escape")  # Esc leaves the card for the list
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("n")
    expect(note).to_be_focused()
    decided = []
    for k in range(1, CLEARED + 1):
        card = page.locator("#queue-card")
        flag_id = card.get_attribute("data-flag-id")
        assert flag_id == before["flags"][k - 1]["flag_id"]  # the queue's order, held credit first
        # what dismissing does is on the card before the decision
        expect(preview_line(card)).to_have_text(expected_dismissal(server, flag_id))
        expect(preview_line(card, "confirm")).to_contain_text("确认后：已驳回，积分 0")
        page.keyboard.type(f"城市日键盘审核 {k}")
        page.keyboard.press("Tab")
        expect(card.locator("button.review-dismiss")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(f"#list-queue .queue-item[data-flag-id='{flag_id}']")).to_have_count(0)
        expect(page.locator("#queue-card")).not_to_have_attribute("data-flag-id", flag_id)
        expect(page.locator("#queue-note")).to_be_focused()  # the next flag is ready
        decided.append(flag_id)
    status, after = server.api("/api/v1/flags/queue?limit=1000")
    expect(items).to_have_count(after["total"])
    assert not set(decided) & {f["flag_id"] for f in after["flags"]}
    for k, flag_id in enumerate(decided, start=1):
        flag = server.api(f"/api/v1/flags?status=dismissed&member_id={flag_id[:5]}")[1]["flags"][0]
        assert flag["flag_id"] == flag_id
        assert [(r["decision"], r["reviewer"], r["note"]) for r in flag["reviews"]] == [
            ("dismissed", "city-auditor", f"城市日键盘审核 {k}")
        ]
        # the held credit is released at once
        patrol = server.api(f"/api/v1/patrols/{flag['patrol_id']}")[1]
        assert patrol["credit"] == {"status": "verified", "points": 5}
    page.record.assert_clean(server.base)


def test_decisions_show_their_history_and_an_overturn_needs_a_second_confirmation(page, own_city):
    server = own_city
    flag = server.api("/api/v1/flags/queue?limit=1")[1]["flags"][0]
    assert flag["stake"]["kind"] == "held_credit"
    assert (
        server.api(
            f"/api/v1/flags/{flag['flag_id']}/review",
            method="POST",
            body={"decision": "dismiss", "note": "城市日：设备测试"},
        )[0]
        == 200
    )
    sign_in(page, server, "auditor", path=f"/map#patrol={flag['patrol_id']}")
    page.wait_for_selector(f"#patrol-figures[data-patrol-id='{flag['patrol_id']}']")
    page.wait_for_selector("#credit-status[data-status='verified']")
    marker = page.locator(f".gv-flag[data-flag-id='{flag['flag_id']}']")
    marker.click()
    popup = page.locator(f".flag-popup-body[data-flag-id='{flag['flag_id']}']")
    history = popup.locator(".review-history")
    expect(history).to_contain_text("已排除 · city-auditor · 2026-")  # who and when
    expect(history).to_contain_text("城市日：设备测试")  # and the note
    assert popup.locator("button.review-dismiss, button.review-confirm").count() == 0
    page.keyboard.press("Escape")  # Esc closes the popup
    expect(popup).to_have_count(0)
    marker.click()
    popup.locator("button.review-overturn").click()
    panel = popup.locator(".overturn-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".overturn-title")).to_contain_text("city-auditor")
    expect(preview_line(panel, "confirm")).to_contain_text("确认后：已驳回，积分 0")
    panel.locator("button.overturn-confirm").click()  # without a reason: nothing is sent
    expect(popup.locator(".review-message")).to_have_text("请填写审核意见。")
    assert server.api(f"/api/v1/flags?member_id={flag['member_id']}&status=dismissed")[1]["total"] == 1
    panel.locator(".overturn-note").fill("复查：轨迹为虚拟定位")
    panel.locator("button.overturn-confirm").click()
    page.wait_for_selector("#credit-status[data-status='rejected']")
    entries = page.locator(f".flag-popup-body[data-flag-id='{flag['flag_id']}'] .review-entry-head")
    expect(entries).to_have_count(2)
    assert entries.nth(1).inner_text().startswith("已确认 · city-auditor")
    assert server.api(f"/api/v1/patrols/{flag['patrol_id']}")[1]["credit"] == {"status": "rejected", "points": 0}
    page.record.assert_clean(server.base)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_axe_finds_no_serious_or_critical_violations_in_the_city_queue(page, city, lang):
    sign_in(page, city, "auditor")
    page.wait_for_selector("body.map-ready")
    if lang == "en":
        page.click("#lang-switch")
    page.click("#tab-queue")
    preview_line(page.locator("#queue-card")).wait_for()
    page.wait_for_selector("path.track")
    found = {"queue and its first card": axe_violations(page)}
    page.locator("#list-queue .queue-item[data-stake='time']").first.click()
    preview_line(page.locator("#queue-card")).wait_for()
    found["a LOOP or IDLE card"] = axe_violations(page)
    assert {view: v for view, v in found.items() if v} == {}
    page.record.assert_clean(city.base)


def click_until(page, click: str, until: str, gone: str | None = None) -> float:
    """Milliseconds from a click on ``click`` until ``until`` is in the page (and ``gone`` is not)."""
    ms = page.evaluate(CLICK_UNTIL, {"click": click, "until": until, "gone": gone})
    assert ms is not None, f"{until} never appeared after clicking {click}"
    return ms


def test_timings_of_the_queue_and_the_assessment_on_the_city_day(page, own_city):
    """Time to the first queue card (its preview in), a card's preview, a decision landing (the flag
    gone from the list, the next card shown) and the assessment page's load, medians of 5 (3 for the
    page load); reported, not held to a limit."""
    server = own_city
    sign_in(page, server, "auditor")
    first = []
    for _ in range(RUNS):
        page.wait_for_load_state("networkidle")  # nothing in flight is cut off by the reload
        page.reload()
        page.wait_for_selector("body.map-ready")
        first.append(click_until(page, "#tab-queue", "#queue-card:not([hidden]) .review-preview li[data-decision]"))
    items = page.locator("#list-queue .queue-item")
    ids = [n.get_attribute("data-flag-id") for n in items.all()]
    assert len(ids) == 75
    previews = [
        click_until(
            page,
            f"#list-queue .queue-item[data-index='{i}']",
            f"#queue-card[data-flag-id='{ids[i]}'] .review-preview li[data-decision]",
        )
        for i in range(1, RUNS + 1)
    ]
    page.locator("#list-queue .queue-item[data-index='0']").click()
    decisions = []
    for k in range(RUNS):
        card = page.locator("#queue-card")
        preview_line(card).wait_for()
        flag_id = card.get_attribute("data-flag-id")
        page.fill("#queue-note", f"计时 {k}")
        decisions.append(
            click_until(
                page,
                "#queue-card button.review-dismiss",
                f"#queue-card[data-flag-id]:not([data-flag-id='{flag_id}']) .review-note",
                gone=f"#list-queue .queue-item[data-flag-id='{flag_id}']",
            )
        )
        assert server.api(f"/api/v1/flags?member_id={flag_id[:5]}&status=dismissed")[1]["total"] == 1
    assert items.count() == 75 - RUNS
    preview_line(page.locator("#queue-card")).wait_for()
    page.wait_for_load_state("networkidle")
    page.add_init_script(READY_MARK)
    page.goto(server.base + "/map/assessment?period=2026-11")
    loads = []
    for _ in range(3):
        page.wait_for_load_state("networkidle")
        page.reload()
        page.wait_for_selector("body.assessment-ready")
        loads.append(page.evaluate("() => window.gvAssessmentReady"))
    assert page.locator("#a-table tbody tr").count() == city_day.N_PATROLS
    figures = {
        "first queue card (tab click to card and preview)": first,
        "preview of a card (click to preview)": previews,
        "decision lands (click to flag gone, next card shown)": decisions,
        "assessment page, 500 rows (navigation to table)": loads,
    }
    print(f"\ncity day ({city_day.N_PATROLS} patrols, 75 open flags), medians:")
    for name, runs in figures.items():
        print(
            f"  {name}: {statistics.median(runs) / 1000:.2f} s (n={len(runs)}, "
            f"{min(runs) / 1000:.2f}–{max(runs) / 1000:.2f} s)"
        )
    page.record.assert_clean(server.base)
