"""/api/v1/patrols: verified patrols, one at a time, and as map GeoJSON."""

from flask import Blueprint, g, jsonify, request

from geoverify.store import maps, queries

from .auth import get_store, grid_scope, requires
from .openapi import operation, query
from .params import date_arg, int_arg

bp = Blueprint("patrols", __name__, url_prefix="/api/v1/patrols")


@bp.get("")
@operation(
    "List patrols (paged)",
    tag="patrols",
    description="Supervisors see the patrols of their grids only.",
    params=(
        query("member_id", "only this member"),
        query("grid_id", "only this grid"),
        query("date_from", "first local date, YYYY-MM-DD", format="date"),
        query("date_to", "last local date, YYYY-MM-DD", format="date"),
        query("offset", "skip this many", "integer", minimum=0),
        query("limit", "page size (≤ 1000)", "integer", minimum=1, maximum=1000),
    ),
)
@requires("supervisor", "auditor")
def list_patrols():
    with get_store().read() as conn:
        page = queries.list_patrols(
            conn,
            member_id=request.args.get("member_id") or None,
            grid_id=request.args.get("grid_id") or None,
            date_from=date_arg("date_from"),
            date_to=date_arg("date_to"),
            offset=int_arg("offset", 0),
            limit=int_arg("limit", 100, minimum=1, maximum=1000),
            grid_scope=grid_scope(g.principal),
        )
    return jsonify(page)


@bp.get("/<patrol_id>")
@operation("One patrol: the command line's patrol object, flags with ids and statuses", tag="patrols")
@requires("supervisor", "auditor")
def get_patrol(patrol_id: str):
    with get_store().read() as conn:
        return jsonify(queries.get_patrol(conn, patrol_id, grid_scope(g.principal)))


@bp.get("/<patrol_id>/geojson")
@operation("One patrol as GeoJSON: track parts in-grid/outside/flagged, flags, grid, covered area", tag="patrols")
@requires("supervisor", "auditor")
def patrol_geojson(patrol_id: str):
    store = get_store()
    with store.read() as conn:
        document = maps.patrol_geojson(conn, patrol_id, store.tz, store.rules, grid_scope(g.principal))
    response = jsonify(document)
    response.mimetype = "application/geo+json"
    return response
