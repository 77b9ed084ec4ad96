"""The map page (/map), its printable reports, and the read endpoints only the map needs.

The pages are static shells: the browser asks for a bearer token, keeps it in sessionStorage and
fetches everything from /api/v1 with ``Authorization: Bearer`` (no cookies). Every script, style
and image is served from ``geoverify/api/static``; the pages carry a Content-Security-Policy that allows
only this origin (plus the tile server, when one is configured).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request

from geoverify.flags import SEVERITIES, SEVERITY
from geoverify.measures.heatmap import DEFAULT_CELL_M
from geoverify.patrol.credit import CREDIT_STATUSES
from geoverify.store import maps, overview
from geoverify.store.tokens import ROLES

from .auth import get_store, grid_scope, requires
from .openapi import operation, query
from .params import date_arg, metres_arg

bp = Blueprint("map", __name__)

LEAFLET = "vendor/leaflet-1.9.4"
# Display simplification of tracks, metres: below a pixel at street zoom; figures never change.
DEFAULT_SIMPLIFY_M = 2.0
MAX_SIMPLIFY_M = 200.0
CELL_M_RANGE = (5.0, 500.0)
PATROLS_PER_HEATMAP = 1000
ROLES_THAT_REVIEW = ("auditor", "admin")
#: The words the pages' scripts need, defined once in the library and served in each page's
#: ``data-vocabulary`` (never repeated in JavaScript): flag codes and severities, credit statuses, the
#: overview's states, roles.
VOCABULARY = {
    "flag_codes": list(SEVERITY),
    "severity": dict(SEVERITY),
    "severities": list(SEVERITIES),
    "credit_statuses": list(CREDIT_STATUSES),
    "day_states": list(overview.STATES),
    "grid_states": list(overview.GRID_STATES),
    "roles": list(ROLES),
    "roles_that_review": list(ROLES_THAT_REVIEW),
}


def _page(template: str, **context) -> Response:
    tile_url = current_app.config.get("TILE_URL") or ""
    html = render_template(
        template,
        leaflet=LEAFLET,
        tile_url=tile_url,
        tile_attribution=current_app.config.get("TILE_ATTRIBUTION") or "",
        tz=get_store().tz,
        vocabulary=VOCABULARY,
        **context,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _csp(tile_url)  # the other headers: geoverify/api/security.py
    return response


def _csp(tile_url: str) -> str:
    """Only this origin, plus the tile server's origin for images when tiles are configured."""
    img = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        host = parts.netloc
        if "{s}" in tile_url and "." in host:  # a, b, c… subdomains: allow the parent domain's
            host = "*." + host.split(".", 1)[1]
        if parts.scheme in ("http", "https") and host:
            img += f" {parts.scheme}://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
        f"img-src {img}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


@bp.get("/map")
def map_page():
    """The map: grids, patrol tracks, flags, filters, review, heat map."""
    return _page("map.html")


@bp.get("/map/report/patrol/<patrol_id>")
def patrol_report(patrol_id: str):
    """A printable report of one patrol (filled in by the browser with the token)."""
    return _page("report.html", kind="patrol", patrol_id=patrol_id, member_id="", month="")


@bp.get("/map/report/member/<member_id>/<month>")
def member_report(member_id: str, month: str):
    """A printable report of one member's month (YYYY-MM)."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        abort(404)
    return _page("report.html", kind="member", patrol_id="", member_id=member_id, month=month)


@bp.get("/api/v1/map/session")
@operation("Who the token is, for the map page (role, scopes, whether it may review flags)", tag="map")
@requires("supervisor", "auditor")
def session():
    principal = g.principal
    return jsonify(
        {
            "name": principal.name,
            "role": principal.role,
            "scopes": sorted(principal.scopes),
            "can_review": principal.role in ROLES_THAT_REVIEW,
            "tz": get_store().tz,
        }
    )


@bp.get("/api/v1/map/patrols/<patrol_id>/geojson")
@operation(
    "A patrol's map GeoJSON simplified for display (tolerance in metres)",
    tag="map",
    description="The features of GET /api/v1/patrols/{patrol_id}/geojson, with track parts and the "
    "covered area simplified by simplify_m metres on a local metric projection and "
    "coordinates rounded to 1e-6 degrees. Figures are never affected.",
    params=(
        query("simplify_m", "tolerance in metres (0 to 200, default 2)", "number", minimum=0, maximum=MAX_SIMPLIFY_M),
    ),
)
@requires("supervisor", "auditor")
def patrol_geojson(patrol_id: str):
    tolerance = metres_arg("simplify_m", DEFAULT_SIMPLIFY_M, 0.0, MAX_SIMPLIFY_M)
    store = get_store()
    with store.read() as conn:
        document = maps.patrol_geojson(conn, patrol_id, store.tz, store.rules, grid_scope(g.principal))
    document = maps.simplified(document, tolerance)
    response = jsonify(document)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/api/v1/map/heatmap")
@operation(
    "Day heat map of a grid: seconds spent per square cell by the grid's patrols",
    tag="map",
    description="Counted segments only (no gaps, no teleports), split exactly over the cells they "
    "cross. Cells cover the grid's box on its local metric projection; features are "
    "lon/lat squares with properties.seconds.",
    params=(
        query("grid_id", "the grid (required)"),
        query("date", "local date, YYYY-MM-DD (required)", format="date"),
        query("member_id", "only this member's patrol"),
        query(
            "cell_m",
            "cell side in metres (5 to 500, default 25)",
            "number",
            minimum=CELL_M_RANGE[0],
            maximum=CELL_M_RANGE[1],
        ),
    ),
)
@requires("supervisor", "auditor")
def heatmap():
    grid_id, date = request.args.get("grid_id"), date_arg("date")
    if not grid_id or not date:
        abort(400, description="Give the grid and the day: ?grid_id=DC-01&date=2026-11-02.")
    cell_m = metres_arg("cell_m", DEFAULT_CELL_M, *CELL_M_RANGE)
    store = get_store()
    with store.read() as conn:
        document = maps.day_heatmap(
            conn,
            grid_id,
            date,
            store.tz,
            store.rules,
            cell_m=cell_m,
            member_id=request.args.get("member_id") or None,
            grid_scope=grid_scope(g.principal),
            max_patrols=PATROLS_PER_HEATMAP,
        )
    response = jsonify(document)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/api/v1/map/day")
@operation(
    "A day at a glance: each grid's state, the day's patrols and its flags",
    tag="map",
    description="For the date (default: the latest date with a patrol you can see): every grid of the "
    "caller's scope with its state (held, rejected, below, flagged, credited, or none: "
    "not patrolled), every patrol with its credit, state and flag counts (its own and its "
    "event reports' flags), every flag of the day with its place, counts per state, and the "
    "dates that have patrols (latest first, at most 400). "
    "States are explained in geoverify/store/overview.py and docs/map.md.",
    params=(query("date", "local date, YYYY-MM-DD (default: the latest date with a patrol)", format="date"),),
)
@requires("supervisor", "auditor")
def day():
    store, scope = get_store(), grid_scope(g.principal)
    with store.read() as conn:
        date = (
            date_arg("date") or overview.latest_date(conn, scope) or store.now().tz_convert(store.tz).date().isoformat()
        )
        document = overview.day_overview(conn, date, store.rules, scope)
        document["dates"] = overview.patrol_dates(conn, scope)
    return jsonify(document)
