"""The assessment (:func:`geoverify.assessment.figures.assess`) as a table: CSV and XLSX, Chinese or English.

One row per member and grid, then a totals row. Hours are verified seconds / 3600 rounded to
0.01 h, the quarter's visited share a percentage rounded to 0.1, halves upwards as the page rounds
them (8,730 s is 2.43 h in the page and in both files). The CSV is UTF-8 with a byte order
mark, so that Excel opens Chinese text correctly; the XLSX (openpyxl) holds the same table on its
first sheet, the overdue sites on the second and what the figures mean on the third. Text that a
spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``) is written as text: with a
leading ``'`` in the CSV, as a string cell in the XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def half_up(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` decimals, halves away from zero.

    Parameters
    ----------
    value : float
    digits : int

    Returns
    -------
    float
        Rounded as the map pages' figures are (``Intl.NumberFormat`` rounds the shortest decimal
        that reads back as the number): 8730 / 3600 is 2.425, so 2.43, where ``round`` gives 2.42.
    """
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


LANGS = ("zh-CN", "en")
#: key, Chinese header, English header, value of a row (or of the totals)
COLUMNS: tuple[tuple[str, str, str, Callable[[dict], Any]], ...] = (
    ("member_id", "网格员", "Member", lambda r: r.get("member_id")),
    ("grid_id", "网格", "Grid", lambda r: r.get("grid_id")),
    ("grid_name", "网格名称", "Grid name", lambda r: r.get("grid_name")),
    ("grid_type", "网格类型", "Grid type", lambda r: r.get("grid_type")),
    ("patrol_days", "巡查天数", "Patrol days", lambda r: r["patrol_days"]),
    ("days_met", "达标天数", "Days meeting the daily time", lambda r: r["days_met"]),
    (
        "required_h",
        "每日要求时长（小时）",
        "Daily time required (h)",
        lambda r: None if r.get("required_s") is None else half_up(r["required_s"] / 3600, 2),
    ),
    ("verified_h", "核定时长（小时）", "Verified time (h)", lambda r: half_up(r["verified_s"] / 3600, 2)),
    ("points", "积分（已结算）", "Points (ledger)", lambda r: r["points"]),
    ("points_provisional", "待结算积分", "Points not yet settled", lambda r: r["points_provisional"]),
    ("site_visits", "走访次数", "Site visits", lambda r: r["site_visits"]),
    ("sites_total", "点位数", "Sites", lambda r: r["sites_total"]),
    ("sites_visited", "本季度已走访点位", "Sites visited in the quarter", lambda r: r["sites_visited"]),
    (
        "visited_pct",
        "本季度走访率（%）",
        "Visited in the quarter (%)",
        lambda r: None if r["visited_share"] is None else half_up(r["visited_share"] * 100, 1),
    ),
    ("overdue_red", "逾期红色点位", "Overdue red sites", lambda r: r["overdue_red"]),
    ("overdue_yellow", "逾期黄色点位", "Overdue yellow sites", lambda r: r["overdue_yellow"]),
    ("overdue_green", "逾期绿色点位", "Overdue green sites", lambda r: r["overdue_green"]),
)
TOTAL_LABEL = {"zh-CN": "合计", "en": "Total"}
OVERDUE_COLUMNS = (
    ("site_id", "点位", "Site"),
    ("grid_id", "网格", "Grid"),
    ("tier", "等级", "Tier"),
    ("last_visit_date", "最近走访日期", "Last visit"),
    ("last_visit_member", "走访人", "By"),
    ("next_due", "应走访日期", "Due"),
    ("days_overdue", "逾期天数", "Days overdue"),
)
TIER_NAMES = {
    "zh-CN": {"red": "红", "yellow": "黄", "green": "绿"},
    "en": {"red": "red", "yellow": "yellow", "green": "green"},
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _lang(lang: str | None) -> str:
    return "en" if lang == "en" else "zh-CN"


def table(report: dict, lang: str | None = "zh-CN") -> tuple[list[str], list[list[Any]]]:
    """Headers and rows (the members' rows, then the totals) of ``report`` in ``lang``.

    Parameters
    ----------
    report : dict
        :func:`geoverify.assessment.figures.assess`'s answer.
    lang : str
        ``zh-CN`` (default) or ``en``: the headers and the totals' label.

    Returns
    -------
    tuple
        Headers (``len(COLUMNS)`` strings) and rows of values (None for an empty cell).
    """
    lang = _lang(lang)
    headers = [zh if lang == "zh-CN" else en for _, zh, en, _ in COLUMNS]
    rows = [[value(row) for *_, value in COLUMNS] for row in report["rows"]]
    totals = {**report["totals"], "required_s": None}
    last = [value(totals) for *_, value in COLUMNS]
    last[:4] = [TOTAL_LABEL[lang], None, None, None]
    return headers, rows + [last]


def _text_cell(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would take for a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(report: dict, lang: str | None = "zh-CN") -> bytes:
    """The :func:`table` as CSV: UTF-8 with a byte order mark, CRLF line ends, a header line."""
    headers, rows = table(report, lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([[_text_cell(v) for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _openpyxl():
    import openpyxl  # type: ignore[import-untyped]  # no type stubs installed

    return openpyxl


def _sheet(sheet, headers: list[str], rows: list[list[Any]], widths: list[int]) -> None:
    bold = _openpyxl().styles.Font(bold=True)
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = bold
    for row in rows:
        sheet.append([None if v is None else v for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[_openpyxl().utils.get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"


def to_xlsx(report: dict, lang: str | None = "zh-CN") -> bytes:
    """The :func:`table` as an XLSX workbook (openpyxl): the table, the overdue sites, and a sheet
    saying what the period and the figures are.

    Returns
    -------
    bytes
        The workbook (``application/vnd.openxmlformats-officedocument.spreadsheetml.sheet``).
    """
    openpyxl = _openpyxl()
    lang = _lang(lang)
    zh = lang == "zh-CN"
    headers, rows = table(report, lang)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = ("考核 " if zh else "Assessment ") + report["period"]["label"]
    _sheet(sheet, headers, rows, [10, 10, 22, 10] + [12] * (len(headers) - 4))
    sheet.auto_filter.ref = f"A1:{sheet.cell(row=1, column=len(headers)).column_letter}{len(rows)}"
    for cell in sheet[sheet.max_row]:
        cell.font = openpyxl.styles.Font(bold=True)
    tiers = TIER_NAMES[lang]
    overdue = [
        [s[key] if key != "tier" else tiers.get(s["tier"], s["tier"]) for key, _, _ in OVERDUE_COLUMNS]
        for s in report["overdue_sites"]
    ]
    _sheet(
        book.create_sheet("逾期点位" if zh else "Overdue sites"),
        [z if zh else e for _, z, e in OVERDUE_COLUMNS],
        overdue,
        [10, 10, 8, 14, 10, 14, 10],
    )
    _sheet(
        book.create_sheet("说明" if zh else "About"),
        ["项目" if zh else "Item", "值" if zh else "Value"],
        _about(report, zh),
        [28, 60],
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _about(report: dict, zh: bool) -> list[list[Any]]:
    p = report["period"]
    if zh:
        return [
            ["考核期", f"{p['label']}（{p['from']} 至 {p['to']}）"],
            ["统计截至", p["as_of"]],
            ["季度起始（走访率）", p["quarter_from"]],
            ["规则版本", report["rule_version"]],
            ["积分来源", "积分台账（已结算的发放减冲销）；待结算积分为尚未结算日期的当前积分"],
            ["达标", "核定时长不少于网格类型要求的每日时长的巡查天数"],
            [
                "逾期",
                f"截至 {p['as_of']}：红色 7 天、黄色 14 天、绿色 30 天内未走访；"
                f"{p['visits_from']} 以来没有走访的点位按前一天走访计",
            ],
        ]
    return [
        ["Period", f"{p['label']} ({p['from']} to {p['to']})"],
        ["As of", p["as_of"]],
        ["Quarter from (visited share)", p["quarter_from"]],
        ["Rule version", report["rule_version"]],
        [
            "Points",
            "the credit ledger (settled grants less reversals); not yet settled: the current credit "
            "of days not settled",
        ],
        ["Days meeting the daily time", "patrol days with verified time at least the grid type's daily time"],
        [
            "Overdue",
            f"on {p['as_of']}: no visit within 7 days (red), 14 (yellow), 30 (green); a site with no "
            f"visit since {p['visits_from']} counts as visited the day before",
        ],
    ]
