"""The map page (/map), its printable reports, and the read endpoints only the map needs.

The pages are static shells: the browser asks for a bearer token, keeps it in sessionStorage and
fetches everything from /api/v1 with ``Authorization: Bearer`` (no cookies). Every script, style
and image is served from ``api/static``; the pages carry a Content-Security-Policy that allows
only this origin (plus the tile server, when one is configured).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request
from sqlalchemy import select

from geoverify.errors import NotFound
from geoverify.grid import Grid
from geoverify.heatmap import DEFAULT_CELL_M, heatmap_geojson, time_per_cell
from geoverify.store import maps, overview, queries
from geoverify.store.schema import grids

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


def _page(template: str, **context) -> Response:
    tile_url = current_app.config.get("TILE_URL") or ""
    html = render_template(template, leaflet=LEAFLET, tile_url=tile_url,
                           tile_attribution=current_app.config.get("TILE_ATTRIBUTION") or "",
                           tz=current_app.config.get("TZ") or "Asia/Shanghai", **context)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _csp(tile_url)  # the other headers: api/security.py
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
    return ("default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
            f"img-src {img}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


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
    return jsonify({"name": principal.name, "role": principal.role, "scopes": sorted(principal.scopes),
                    "can_review": principal.role in ROLES_THAT_REVIEW,
                    "tz": current_app.config.get("TZ") or "Asia/Shanghai"})


@bp.get("/api/v1/map/patrols/<patrol_id>/geojson")
@operation("A patrol's map GeoJSON simplified for display (tolerance in metres)", tag="map",
           description="The features of GET /api/v1/patrols/{patrol_id}/geojson, with track parts and the "
                       "covered area simplified by simplify_m metres on a local metric projection and "
                       "coordinates rounded to 1e-6 degrees. Figures are never affected.",
           params=(query("simplify_m", "tolerance in metres (0 to 200, default 2)", "number", minimum=0,
                         maximum=MAX_SIMPLIFY_M),))
@requires("supervisor", "auditor")
def patrol_geojson(patrol_id: str):
    tolerance = metres_arg("simplify_m", DEFAULT_SIMPLIFY_M, 0.0, MAX_SIMPLIFY_M)
    store = get_store()
    with store.read() as conn:
        document = maps.patrol_geojson(conn, patrol_id, store.tz, grid_scope(g.principal))
    document = _simplified(document, tolerance)
    response = jsonify(document)
    response.mimetype = "application/geo+json"
    return response


def _simplified(document: dict, tolerance_m: float) -> dict:
    """Track and covered-area features simplified by ``tolerance_m`` metres (local projection)."""
    shapes = [f for f in document["features"] if f["properties"].get("kind") in ("track", "covered")]
    if not shapes:
        return document
    geometries = [shapely.geometry.shape(f["geometry"]) for f in shapes]
    centre = shapely.union_all([geom.envelope for geom in geometries]).centroid
    projection = Grid(grid_id="display", geometry_wgs84=centre.buffer(1e-6)).projection
    for feature, geom in zip(shapes, geometries):
        metric = shapely.transform(geom, lambda xy: np.column_stack(projection.forward(xy[:, 0], xy[:, 1])))
        if tolerance_m > 0:
            metric = metric.simplify(tolerance_m, preserve_topology=feature["properties"]["kind"] == "covered")
        back = shapely.transform(metric,
                                 lambda xy: np.round(np.column_stack(projection.inverse(xy[:, 0], xy[:, 1])), 6))
        feature["geometry"] = json.loads(shapely.to_geojson(back))
        if feature["properties"]["kind"] == "track":
            feature["properties"]["points"] = int(shapely.get_num_coordinates(back))
    document["properties"]["simplify_m"] = tolerance_m
    return document


def _grid(conn, grid_id: str, scope: frozenset | None) -> Grid:
    row = conn.execute(select(grids).where(grids.c.grid_id == grid_id)).first()
    if row is None or (scope is not None and grid_id not in scope):
        raise NotFound(f"no grid {grid_id!r}; GET /api/v1/grids lists the grids you can see")
    return Grid(grid_id=row.grid_id, geometry_wgs84=shapely.from_geojson(row.geometry), name=row.name,
                grid_type=row.grid_type)


@bp.get("/api/v1/map/heatmap")
@operation("Day heat map of a grid: seconds spent per square cell by the grid's patrols", tag="map",
           description="Counted segments only (no gaps, no teleports), split exactly over the cells they "
                       "cross. Cells cover the grid's box on its local metric projection; features are "
                       "lon/lat squares with properties.seconds.",
           params=(query("grid_id", "the grid (required)"),
                   query("date", "local date, YYYY-MM-DD (required)", format="date"),
                   query("member_id", "only this member's patrol"),
                   query("cell_m", "cell side in metres (5 to 500, default 25)", "number",
                         minimum=CELL_M_RANGE[0], maximum=CELL_M_RANGE[1])))
@requires("supervisor", "auditor")
def heatmap():
    grid_id, date = request.args.get("grid_id"), date_arg("date")
    if not grid_id or not date:
        abort(400, description="Give the grid and the day: ?grid_id=DC-01&date=2026-11-02.")
    cell_m = metres_arg("cell_m", DEFAULT_CELL_M, *CELL_M_RANGE)
    store = get_store()
    with store.read() as conn:
        grid = _grid(conn, grid_id, grid_scope(g.principal))
        page = queries.list_patrols(conn, grid_id=grid_id, member_id=request.args.get("member_id") or None,
                                    date_from=date, date_to=date, limit=PATROLS_PER_HEATMAP,
                                    grid_scope=grid_scope(g.principal))
        members = sorted({p["member_id"] for p in page["patrols"]})
        frames = [maps._day_fixes(conn, member, date, store.tz).assign(member_id=member) for member in members]
    fixes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"time_ns": [], "lon": [], "lat": [], "member_id": []})
    rules = store.rules.for_grid_type(grid.grid_type)
    x, y = grid.projection.forward(fixes["lon"].to_numpy(float), fixes["lat"].to_numpy(float))
    heat = time_per_cell(x, y, fixes["time_ns"].to_numpy(np.int64) / 1e9, bounds=grid.geometry.bounds,
                         cell_m=cell_m, max_gap_s=rules.max_gap_s, max_speed_mps=rules.teleport_mps,
                         track_ids=fixes["member_id"].to_numpy(object))
    document = heatmap_geojson(heat, grid.projection.inverse)
    document["properties"].update({"grid_id": grid_id, "date": date, "members": members})
    response = jsonify(document)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/api/v1/map/day")
@operation("A day at a glance: each grid's state, the day's patrols and its flags", tag="map",
           description="For the date (default: the latest date with a patrol you can see): every grid of the "
                       "caller's scope with its state (held, rejected, below, flagged, credited, or none: "
                       "not patrolled), every patrol with its credit, state and flag counts (its own and its "
                       "event reports' flags), every flag of the day with its place, counts per state, and the "
                       "dates that have patrols (latest first, at most 400). "
                       "States are explained in geoverify/store/overview.py and docs/map.md.",
           params=(query("date", "local date, YYYY-MM-DD (default: the latest date with a patrol)",
                         format="date"),))
@requires("supervisor", "auditor")
def day():
    store, scope = get_store(), grid_scope(g.principal)
    with store.read() as conn:
        date = (date_arg("date") or overview.latest_date(conn, scope)
                or store.now().tz_convert(store.tz).date().isoformat())
        document = overview.day_overview(conn, date, store.rules, scope)
        document["dates"] = overview.patrol_dates(conn, scope)
    return jsonify(document)
