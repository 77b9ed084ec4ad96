"""The monthly and quarterly assessment (geoverify.assessment.figures) and its exports, with figures
computed by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest

from geoverify.assessment.export import COLUMNS, table, to_csv, to_xlsx
from geoverify.assessment.figures import GridInfo, assess, parse_period
from geoverify.rules import parse_rules

D = dt.date
NOV = parse_period("2026-11")
GRIDS = [GridInfo("G1", "东四第一网格", "urban", ("M1", "M2")), GridInfo("G2", "农村网格", "rural", ("M3",))]


def patrols(*rows) -> pd.DataFrame:
    """(member, grid, date, verified_s, points, settled) rows."""
    return pd.DataFrame(rows, columns=["member_id", "grid_id", "date", "verified_s", "points", "settled"])


def ledger(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["member_id", "grid_id", "date", "points"])


def sites(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["site_id", "grid_id", "tier"])


def visits(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["site_id", "member_id", "date"])


def row(report: dict, member: str, grid: str | None = "G1") -> dict:
    (found,) = [r for r in report["rows"] if r["member_id"] == member and r["grid_id"] == grid]
    return found


@pytest.mark.parametrize(
    "text,kind,start,end",
    [
        ("2026-11", "month", D(2026, 11, 1), D(2026, 11, 30)),
        ("2026-12", "month", D(2026, 12, 1), D(2026, 12, 31)),
        ("2028-02", "month", D(2028, 2, 1), D(2028, 2, 29)),
        ("2026-Q1", "quarter", D(2026, 1, 1), D(2026, 3, 31)),
        ("2026-Q4", "quarter", D(2026, 10, 1), D(2026, 12, 31)),
    ],
)
def test_periods(text, kind, start, end):
    period = parse_period(text)
    assert (period.label, period.kind, period.start, period.end) == (text, kind, start, end)


def test_quarter_of_a_month_and_the_visit_look_back():
    assert NOV.quarter_start == D(2026, 10, 1)
    assert NOV.visits_from == D(2026, 9, 1)  # 30 days (green's interval) before the quarter
    assert parse_period("0001-01").visits_from == D(1, 1, 1)
    assert NOV.as_of(D(2026, 11, 10)) == D(2026, 11, 10)  # while the month runs
    assert NOV.as_of(D(2027, 1, 5)) == NOV.as_of(None) == D(2026, 11, 30)
    assert NOV.as_of(D(2026, 10, 5)) == D(2026, 11, 1)


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-Q5", "2026-q4", "26-11", "2026-1", "0000-01", "9999-12", "", "2026-11-01", " 2026-11"],
)
def test_bad_periods_name_the_expected_forms(text):
    with pytest.raises(ValueError, match="2026-11.*2026-Q4"):
        parse_period(text)


def test_days_meeting_the_daily_time_and_verified_time():
    # 3 days of at least 2 h (7200 s exactly counts) and one of 1.5 h
    report = assess(
        NOV,
        GRIDS,
        patrols(
            ("M1", "G1", "2026-11-02", 7200.0, 5, True),
            ("M1", "G1", "2026-11-03", 8000.0, 5, True),
            ("M1", "G1", "2026-11-04", 9000.0, 5, True),
            ("M1", "G1", "2026-11-05", 5400.0, 0, True),
            ("M1", "G1", "2026-10-31", 9000.0, 5, True),
        ),  # not in November
        None,
        None,
        None,
    )
    m1 = row(report, "M1")
    assert (m1["patrol_days"], m1["days_met"], m1["verified_s"], m1["required_s"]) == (4, 3, 29600, 7200)
    m2 = row(report, "M2")  # assigned, no patrol: a row of zeros
    assert (m2["patrol_days"], m2["days_met"], m2["verified_s"], m2["points"]) == (0, 0, 0, 0)
    assert [(r["member_id"], r["grid_id"]) for r in report["rows"]] == [("M1", "G1"), ("M2", "G1"), ("M3", "G2")]


def test_the_daily_time_is_the_grid_types():
    rules = parse_rules({"grid_type": {"rural": {"min_verified_s": 3600}}})
    report = assess(
        NOV,
        GRIDS,
        patrols(("M3", "G2", "2026-11-02", 5400.0, 5, True), ("M1", "G1", "2026-11-02", 5400.0, 0, True)),
        None,
        None,
        None,
        rules,
    )
    assert row(report, "M3", "G2")["days_met"] == 1 and row(report, "M3", "G2")["required_s"] == 3600
    assert row(report, "M1")["days_met"] == 0 and row(report, "M1")["required_s"] == 7200


def test_points_are_the_ledgers_and_unsettled_days_are_provisional():
    report = assess(
        NOV,
        GRIDS,
        patrols(
            ("M1", "G1", "2026-11-02", 8000.0, 5, True),
            ("M1", "G1", "2026-11-03", 0.0, 0, True),
            ("M1", "G1", "2026-11-30", 8000.0, 5, False),
        ),  # the last day: not settled
        ledger(
            ("M1", "G1", "2026-11-02", 5.0),
            ("M1", "G1", "2026-11-03", 5.0),
            ("M1", "G1", "2026-11-03", -5.0),  # granted, reversed
            ("M1", "G1", "2026-10-31", 5.0),  # October's
            ("M2", "G1", "2026-11-04", 2.5),
        ),  # a ledger entry whose patrol was not given
        None,
        None,
    )
    assert row(report, "M1")["points"] == 5 and row(report, "M1")["points_provisional"] == 5
    assert row(report, "M2")["points"] == 2.5
    assert report["points_source"] == "ledger"
    assert report["totals"]["points"] == 7.5 and report["grids"][0]["points"] == 7.5


def test_overdue_sites_on_the_periods_last_day():
    report = assess(
        NOV,
        GRIDS[:1],
        None,
        None,
        sites(
            ("R9", "G1", "red"),
            ("R7", "G1", "red"),
            ("Y", "G1", "yellow"),
            ("G", "G1", "green"),
            ("N", "G1", "green"),
            ("T", "G1", None),
            ("X", "G2", "red"),
        ),
        visits(
            ("R9", "M1", "2026-11-21"),  # 9 days before the 30th: due the 28th, 2 days late
            ("R7", "M2", "2026-11-23"),  # 7 days before: due the 30th, on time
            ("Y", "M1", "2026-10-20"),  # due 3 November: 27 days late
            ("G", "M1", "2026-11-01"),  # due 1 December
            ("T", "M1", "2026-09-01"),
        ),
    )  # no tier: never overdue
    g1 = report["grids"][0]
    assert (g1["overdue_red"], g1["overdue_yellow"], g1["overdue_green"]) == (1, 1, 1)
    late = {s["site_id"]: s for s in report["overdue_sites"]}
    assert sorted(late) == ["N", "R9", "Y"]
    assert late["R9"] == {
        "site_id": "R9",
        "grid_id": "G1",
        "tier": "red",
        "last_visit_date": "2026-11-21",
        "last_visit_member": "M1",
        "next_due": "2026-11-28",
        "days_overdue": 2,
    }
    assert late["Y"]["days_overdue"] == 27
    # never visited since 1 September: counted as visited on 31 August, due 30 September
    assert late["N"]["last_visit_date"] is None and late["N"]["next_due"] == "2026-09-30"
    assert late["N"]["days_overdue"] == 61
    assert "X" not in late  # another grid's site


def test_overdue_while_the_month_runs_is_counted_today():
    the_sites = sites(("R", "G1", "red"))
    the_visits = visits(("R", "M1", "2026-11-05"))
    running = assess(NOV, GRIDS[:1], None, None, the_sites, the_visits, today=D(2026, 11, 10))
    assert running["period"]["as_of"] == "2026-11-10" and running["totals"]["overdue_red"] == 0
    ended = assess(NOV, GRIDS[:1], None, None, the_sites, the_visits, today=D(2026, 12, 3))
    assert ended["period"]["as_of"] == "2026-11-30" and ended["totals"]["overdue_red"] == 1


def test_share_of_sites_visited_in_the_quarter():
    report = assess(
        NOV,
        GRIDS,
        None,
        None,
        sites(
            ("A", "G1", "red"), ("B", "G1", "yellow"), ("C", "G1", "green"), ("D", "G1", "green"), ("E", "G2", "green")
        ),
        visits(
            ("A", "M1", "2026-11-03"),
            ("A", "M2", "2026-11-04"),  # twice: one site
            ("B", "M2", "2026-10-02"),  # October: in the quarter
            ("C", "M1", "2026-09-28"),  # September: before the quarter
            ("E", "M3", "2026-12-01"),
        ),
    )  # after the period
    m1, m2 = row(report, "M1"), row(report, "M2")
    assert (m1["sites_total"], m1["sites_visited"], m1["visited_share"]) == (4, 2, 0.5)
    assert (m1["site_visits"], m2["site_visits"]) == (1, 1)  # visits in November only
    assert row(report, "M3", "G2")["visited_share"] == 0.0
    totals = report["totals"]  # each grid's sites once, though G1 has two members
    assert (totals["sites_total"], totals["sites_visited"], totals["visited_share"]) == (5, 2, 0.4)
    quarter = assess(
        parse_period("2026-Q4"),
        GRIDS[:1],
        None,
        None,
        sites(("A", "G1", "red")),
        visits(("A", "M1", "2026-12-20")),
        today=D(2027, 1, 2),
    )
    assert quarter["totals"]["visited_share"] == 1.0 and quarter["period"]["as_of"] == "2026-12-31"


def test_members_without_a_grid_and_the_member_filter():
    given = patrols(
        ("M9", None, "2026-11-02", 9000.0, 0, True),
        ("M1", "G1", "2026-11-02", 9000.0, 5, True),
        ("M5", "G7", "2026-11-02", 9000.0, 5, True),
    )  # a grid not assessed (another scope)
    report = assess(NOV, GRIDS[:1], given, None, sites(("A", "G1", "red")), None)
    assert [(r["member_id"], r["grid_id"]) for r in report["rows"]] == [("M1", "G1"), ("M2", "G1"), ("M9", None)]
    m9 = row(report, "M9", None)
    assert m9["days_met"] == 1 and m9["sites_total"] is None and m9["visited_share"] is None
    assert report["totals"]["grids"] == 1 and report["totals"]["members"] == 3
    one = assess(NOV, GRIDS[:1], given, None, sites(("A", "G1", "red")), None, member_id="M1")
    assert [r["member_id"] for r in one["rows"]] == ["M1"] and one["totals"]["members"] == 1
    assert one["totals"]["sites_total"] == 1


SAMPLE = assess(
    NOV,
    GRIDS,
    patrols(("M1", "G1", "2026-11-02", 17980.0, 5, True), ("M2", "G1", "2026-11-02", 4490.0, 0, True)),
    ledger(("M1", "G1", "2026-11-02", 5.0)),
    sites(("A", "G1", "red"), ("B", "G1", "yellow")),
    visits(("A", "M1", "2026-11-02")),
)


def test_table_in_chinese_and_english():
    headers, rows = table(SAMPLE)
    assert headers[:6] == ["网格员", "网格", "网格名称", "网格类型", "巡查天数", "达标天数"]
    assert rows[0][:10] == ["M1", "G1", "东四第一网格", "urban", 1, 1, 2.0, 4.99, 5, 0]
    assert rows[0][headers.index("本季度走访率（%）")] == 50.0
    assert rows[-1][0] == "合计" and rows[-1][1:4] == [None, None, None] and rows[-1][4] == 2
    assert len(rows) == 4 and all(len(r) == len(COLUMNS) for r in rows)
    headers, rows = table(SAMPLE, "en")
    assert headers[5] == "Days meeting the daily time" and rows[-1][0] == "Total"


def test_csv_has_a_byte_order_mark_and_reads_back():
    data = to_csv(SAMPLE)
    assert data.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    headers, rows = table(SAMPLE)
    assert read[0] == headers
    assert read[1] == ["" if v is None else str(v) for v in rows[0]]
    assert data.decode("utf-8-sig").endswith("\r\n")


def test_text_that_looks_like_a_formula_stays_text():
    hostile = assess(NOV, [GridInfo("G1", '=HYPERLINK("http://x")', None, ("-1+1",))], None, None, None, None)
    read = list(csv.reader(io.StringIO(to_csv(hostile).decode("utf-8-sig"))))
    assert read[1][0] == "'-1+1" and read[1][2] == '\'=HYPERLINK("http://x")'
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(hostile))).worksheets[0]
    assert sheet["A2"].value == "-1+1" and sheet["A2"].data_type == "s"
    assert sheet["C2"].value == '=HYPERLINK("http://x")' and sheet["C2"].data_type == "s"


@pytest.mark.parametrize(
    "lang,first_sheet,header", [("zh-CN", "考核 2026-11", "网格员"), ("en", "Assessment 2026-11", "Member")]
)
def test_xlsx_holds_the_same_table(lang, first_sheet, header):
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(SAMPLE, lang)))
    assert book.sheetnames[0] == first_sheet and len(book.sheetnames) == 3
    values = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    headers, rows = table(SAMPLE, lang)
    assert values == [headers] + rows and values[0][0] == header
    overdue = [list(r) for r in book.worksheets[1].iter_rows(values_only=True)]
    # most days overdue first: B (yellow, no visit since 1 September: 77 days), A (red, visited 2 November: 21)
    assert [(r[0], r[-1]) for r in overdue[1:]] == [("B", 77), ("A", 21)]
