"""The assessment page (/map/assessment) in a real headless Chromium against a real `geoverify serve`,
on the sample day and on the city day (500 members; tests/browser/city_day.py).

The server's clock is 2026-11-03 00:00 in Shanghai: the day (2026-11-02) has not settled, so its
points are "not yet settled" and the ledger column shows 0.
"""

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from playwright.sync_api import expect

from . import city_day
from .conftest import sign_in

pytestmark = pytest.mark.browser


def cell(page, member: str, key: str) -> str:
    return page.inner_text(f"#a-table tbody tr[data-member='{member}'] [data-key='{key}']")


def open_assessment(page, server, role: str, query: str = "") -> None:
    sign_in(page, server, role, "/map/assessment" + query)
    page.wait_for_selector("body.assessment-ready")


def test_map_header_links_to_the_assessment_of_the_sample_month(page, server):
    sign_in(page, server, "supervisor")
    page.click("#nav-assessment")
    page.wait_for_selector("body.assessment-ready")  # the tab's token is reused
    assert page.url.endswith("/map/assessment?period=2026-11")
    assert page.input_value("#a-month") == "2026-11"
    rows = page.locator("#a-table tbody tr")
    assert rows.count() == 2  # a supervisor of DC-01: M001 and M002 only
    assert cell(page, "M001", "grid") == "DC-01 东四第一网格"
    assert cell(page, "M001", "days_met") == "1" and cell(page, "M002", "days_met") == "0"
    assert cell(page, "M001", "verified_h") == "4.99" and cell(page, "M002", "verified_h") == "1.25"
    assert cell(page, "M001", "points") == "0" and cell(page, "M001", "points_provisional") == "5"
    assert cell(page, "M001", "sites_visited") == "3 / 4" and cell(page, "M001", "visited_share") == "75.0 %"
    assert cell(page, "M001", "overdue_red") == "1"
    totals = page.locator("#a-table tfoot tr.totals")
    assert totals.locator("[data-key='member']").inner_text() == "合计"
    assert totals.locator("[data-key='patrol_days']").inner_text() == "2"
    assert totals.locator("[data-key='verified_h']").inner_text() == "6.24"
    assert "2026-11" in page.inner_text("#a-summary") and "统计截至 2026-11-03" in page.inner_text("#a-summary")
    assert page.locator("#a-overdue-body tbody tr").count() == 1  # S004, red, not visited on the sample day
    page.record.assert_clean(server.base)


def test_columns_sort_from_the_keyboard(page, server):
    open_assessment(page, server, "auditor")
    assert page.locator("#a-table tbody tr").count() == 12  # every member, M012 without a grid last
    heading = page.locator("#a-table thead th").nth(5)
    button = heading.locator("button.sort-button")
    button.focus()
    page.keyboard.press("Enter")
    expect(heading).to_have_attribute("aria-sort", "ascending")
    first = page.locator("#a-table tbody tr").first
    assert first.get_attribute("data-member") in ("M010", "M012")  # 0 h verified
    page.keyboard.press("Enter")  # focus stays on the heading's button
    expect(heading).to_have_attribute("aria-sort", "descending")
    assert page.locator("#a-table tbody tr").first.get_attribute("data-member") == "M001"  # 4.99 h
    page.record.assert_clean(server.base)


def test_grid_filter_and_quarter(page, server):
    open_assessment(page, server, "auditor")
    page.select_option("#a-kind", "quarter")
    assert page.input_value("#a-year") == "2026" and page.input_value("#a-quarter") == "Q4"
    page.select_option("#a-grid", "DC-02")
    page.click("#a-apply")
    page.wait_for_selector("body.assessment-ready")
    expect(page.locator("#a-summary")).to_contain_text("2026-Q4")
    assert sorted(page.locator("#a-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.member)")) == [
        "M003",
        "M004",
    ]
    assert "period=2026-Q4" in page.url and "grid_id=DC-02" in page.url
    page.record.assert_clean(server.base)


def test_export_buttons_download_csv_and_xlsx(page, server, tmp_path):
    open_assessment(page, server, "supervisor")
    with page.expect_download() as info:
        page.click("#a-csv")
    download = info.value
    assert download.suggested_filename == "assessment-2026-11.csv"
    data = tmp_path / "a.csv"
    download.save_as(data)
    raw = data.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte order mark: Excel reads the Chinese as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["网格员", "网格", "网格名称"]
    assert [r[0] for r in rows[1:]] == ["M001", "M002", "合计"]

    with page.expect_download() as info:
        page.click("#a-xlsx")
    download = info.value
    assert download.suggested_filename == "assessment-2026-11.xlsx"
    download.save_as(tmp_path / "a.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "a.xlsx").worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "网格员" and values[1][0] == "M001" and values[-1][0] == "合计"
    assert values[1][values[0].index("核定时长（小时）")] == 4.99
    page.record.assert_clean(server.base)


def test_english_on_request(page, server):
    open_assessment(page, server, "auditor", "?period=2026-11&lang=en&member_id=M002")
    assert page.locator("#a-table tbody tr").count() == 1
    assert page.inner_text("#a-table thead th >> nth=3").startswith("Days meeting the daily time")
    assert page.inner_text("#a-table tfoot [data-key='member']") == "Total"
    page.click("#lang-switch")  # and back to Chinese
    assert page.inner_text("#a-table tfoot [data-key='member']") == "合计"
    page.record.assert_clean(server.base)


def hours(seconds: float) -> str:
    """Hours with two decimals, halves upwards (8,730 s: 2.43 h)."""
    return str(Decimal(repr(seconds / 3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def page_rows(page) -> dict:
    """(member, grid) → (days met, verified hours, points not yet settled) as the page's table shows them."""
    rows = page.locator("#a-table tbody tr").evaluate_all("""rows => rows.map(r => [
        r.dataset.member, r.dataset.grid,
        ...['days_met', 'verified_h', 'points_provisional']
            .map(k => r.querySelector(`[data-key='${k}']`).textContent)])""")
    return {(m, g): tuple(rest) for m, g, *rest in rows}


def test_a_city_month_loads_and_both_exports_hold_the_pages_rows(page, city, tmp_path):
    status, report = city.api("/api/v1/assessment?period=2026-11")
    assert status == 200 and len(report["rows"]) == city_day.N_PATROLS
    expected = {
        (r["member_id"], r["grid_id"]): (str(r["days_met"]), hours(r["verified_s"]), str(r["points_provisional"]))
        for r in report["rows"]
    }
    open_assessment(page, city, "auditor", "?period=2026-11")
    expect(page.locator("#a-table tbody tr")).to_have_count(city_day.N_PATROLS)
    shown = page_rows(page)
    assert shown == expected  # every member and grid, each figure as GET /api/v1/assessment gives it
    assert "2.43" in {v[1] for v in shown.values()}  # 8,730 s: a tie that the exports round the same way
    # the city's members as city_day.py made them: a 3 h walk meets the day, a 1 h walk does not, a held
    # teleport earns nothing yet
    grid_of = {m: city_day.grid_id(g) for m, g in city_day.plan()[1].items()}
    assert shown[("C0003", grid_of["C0003"])][0] == "1" and shown[("C0003", grid_of["C0003"])][2] == "5"
    assert shown[("C0005", grid_of["C0005"])][0] == "0" and float(shown[("C0005", grid_of["C0005"])][1]) < 2
    assert shown[("C0001", grid_of["C0001"])][2] == "0"
    assert page.inner_text("#a-table tfoot [data-key='patrol_days']") == str(city_day.N_PATROLS)
    with page.expect_download() as info:
        page.click("#a-csv")
    info.value.save_as(tmp_path / "city.csv")
    table = list(csv.reader(io.StringIO((tmp_path / "city.csv").read_bytes().decode("utf-8-sig"))))
    head, body, last = table[0], table[1:-1], table[-1]
    cols = [head.index(h) for h in ("网格员", "网格", "达标天数", "核定时长（小时）", "待结算积分")]
    assert last[0] == "合计" and len(body) == city_day.N_PATROLS
    in_csv = {(r[cols[0]], r[cols[1]]): (r[cols[2]], f"{float(r[cols[3]]):.2f}", r[cols[4]]) for r in body}
    assert in_csv == shown
    with page.expect_download() as info:
        page.click("#a-xlsx")
    info.value.save_as(tmp_path / "city.xlsx")
    values = [list(r) for r in openpyxl.load_workbook(tmp_path / "city.xlsx").worksheets[0].iter_rows(values_only=True)]
    cols = [values[0].index(h) for h in ("网格员", "网格", "达标天数", "核定时长（小时）", "待结算积分")]
    assert values[-1][0] == "合计" and len(values) == city_day.N_PATROLS + 2
    in_xlsx = {
        (r[cols[0]], r[cols[1]]): (str(r[cols[2]]), f"{float(r[cols[3]]):.2f}", str(r[cols[4]])) for r in values[1:-1]
    }
    assert in_xlsx == shown
    page.record.assert_clean(city.base)
