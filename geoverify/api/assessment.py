"""The assessment: ``GET /api/v1/assessment`` (JSON, CSV or XLSX) and its page ``/map/assessment``.

The figures are computed by :func:`geoverify.assessment.figures.assess` over what
:mod:`geoverify.store.assessment` reads; the exports are :mod:`geoverify.assessment.export`.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request

from geoverify.assessment.export import LANGS, XLSX_TYPE, to_csv, to_xlsx
from geoverify.assessment.figures import PERIOD_PATTERN, Period, parse_period
from geoverify.store import Store
from geoverify.store import assessment as store_assessment
from geoverify.store.verification import settle

from .auth import get_store, grid_scope, requires
from .map import _page
from .openapi import SCHEMAS, operation, query
from .params import choice_arg

bp = Blueprint("assessment", __name__)

FORMATS = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX_TYPE}
_NUMBER = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
_MAYBE_COUNT = {"type": "integer", "minimum": 0, "nullable": True}
_FIGURES = {
    "required_s": {**_NUMBER, "description": "the grid type's daily time (min_verified_s), seconds"},
    "patrol_days": _COUNT,
    "days_met": {**_COUNT, "description": "patrol days with verified_s >= required_s"},
    "verified_s": {**_NUMBER, "description": "verified time of the period's patrols, seconds"},
    "points": {**_NUMBER, "description": "ledger points of the period's patrol days (grants less reversals)"},
    "points_provisional": {**_NUMBER, "description": "current credit of the period's days not settled yet"},
    "site_visits": {**_COUNT, "description": "visits to the grid's sites in the period"},
    "sites_total": _MAYBE_COUNT,
    "sites_visited": {**_MAYBE_COUNT, "description": "sites visited from the quarter's first day to as_of"},
    "visited_share": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
    "overdue_red": _MAYBE_COUNT,
    "overdue_yellow": _MAYBE_COUNT,
    "overdue_green": _MAYBE_COUNT,
}
_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": "string", "nullable": True}
_DATE = {"type": "string", "format": "date"}
# The answer's schema, beside the view that answers it (added to the document's components).
SCHEMAS["Assessment"] = {
    "type": "object",
    "properties": {
        "period": {
            "type": "object",
            "properties": {
                "label": _TEXT,
                "kind": {"type": "string", "enum": ["month", "quarter"]},
                "from": _DATE,
                "to": _DATE,
                "quarter_from": _DATE,
                "as_of": {**_DATE, "description": "overdue sites are counted on this day"},
                "visits_from": _DATE,
            },
        },
        "rule_version": _TEXT,
        "points_source": {"type": "string", "enum": ["ledger"]},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "member_id": _TEXT,
                    "grid_id": _MAYBE_TEXT,
                    "grid_name": _MAYBE_TEXT,
                    "grid_type": _MAYBE_TEXT,
                    **_FIGURES,
                },
            },
        },
        "grids": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "grid_id": _MAYBE_TEXT,
                    "grid_name": _MAYBE_TEXT,
                    "grid_type": _MAYBE_TEXT,
                    "members": _COUNT,
                    **_FIGURES,
                },
            },
        },
        "totals": {
            "type": "object",
            "properties": {
                "grids": _COUNT,
                "members": _COUNT,
                **{k: v for k, v in _FIGURES.items() if k != "required_s"},
            },
        },
        "overdue_sites": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "site_id": _TEXT,
                    "grid_id": _TEXT,
                    "tier": {"type": "string", "enum": ["red", "yellow", "green"]},
                    "last_visit_date": {**_DATE, "nullable": True},
                    "last_visit_member": _MAYBE_TEXT,
                    "next_due": _DATE,
                    "days_overdue": _COUNT,
                },
            },
        },
    },
}


@bp.get("/map/assessment")
def assessment_page():
    """The assessment table: period, grid and member filters, sorting, totals, CSV and XLSX exports.

    It opens on the month of the service's today (``today``, the store's clock in its zone)."""
    store = get_store()
    return _page("assessment.html", today=store.now().tz_convert(store.tz).date().isoformat())


def _period(store: Store) -> Period:
    """``period=``, or the month of the service's today."""
    text = request.args.get("period")
    if text is None:
        text = store.now().tz_convert(store.tz).strftime("%Y-%m")
    try:
        return parse_period(text)
    except ValueError as exc:
        abort(400, description=f"Query parameter 'period': {exc}.")


def _format() -> str:
    """``format=`` when given, else what the Accept header prefers (JSON by default)."""
    chosen = choice_arg("format", tuple(FORMATS))
    if chosen is not None:
        return chosen
    best = request.accept_mimetypes.best_match(list(FORMATS.values()), default="application/json")
    return next(name for name, mimetype in FORMATS.items() if mimetype == best)


@bp.get("/api/v1/assessment")
@operation(
    "Monthly or quarterly assessment per member and grid (JSON, CSV or XLSX)",
    tag="assessment",
    description="Per member and grid over a month or a quarter: patrol days, days meeting the grid type's "
    "daily time (verified_s >= min_verified_s), points from the credit ledger (days that have "
    "settled are written to it first) and the current credit of days not settled yet, the "
    "share of the grid's sites visited in the quarter (from its first day to as_of) and the "
    "sites overdue per tier on as_of (the period's last day, or today while it runs). "
    "Supervisors see their grids only. `format=csv` (or `Accept: text/csv`) answers CSV, "
    "UTF-8 with a byte order mark; `format=xlsx` an Excel workbook; headers in Chinese, or "
    "English with `lang=en`.",
    params=(
        query("period", "a month, YYYY-MM, or a quarter, YYYY-Qn (default: this month)", pattern=PERIOD_PATTERN),
        query("grid_id", "only this grid"),
        query("member_id", "only this member"),
        query("format", "json (default), csv or xlsx", enum=list(FORMATS)),
        query("lang", "language of the CSV and XLSX headers (default zh-CN)", enum=list(LANGS)),
    ),
    responses={200: ("the assessment", "Assessment")},
    media={200: {"text/csv": {"type": "string"}, XLSX_TYPE: {"type": "string", "format": "binary"}}},
)
@requires("supervisor", "auditor")
def get_assessment():
    store = get_store()
    period = _period(store)
    fmt = _format()
    lang = choice_arg("lang", LANGS) or "zh-CN"
    settle(store)  # days that settled since the last upload or read enter the ledger first
    report = store_assessment.assessment(
        store,
        period,
        grid_scope=grid_scope(g.principal),
        grid_id=request.args.get("grid_id") or None,
        member_id=request.args.get("member_id") or None,
    )
    if fmt == "json":
        return jsonify(report)
    body = to_csv(report, lang) if fmt == "csv" else to_xlsx(report, lang)
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="assessment-{period.label}.{fmt}"'
    return response
