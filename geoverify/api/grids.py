"""/api/v1/grids: upload grid polygons (admin) and list them."""

from flask import Blueprint, g, jsonify

from geoverify.schema import COORDINATE_SYSTEMS
from geoverify.store import queries

from .auth import get_store, grid_scope, requires
from .limits import limit_uploads
from .openapi import operation, query, upload_body
from .uploads import handle_upload

bp = Blueprint("grids", __name__, url_prefix="/api/v1/grids")


@bp.post("")
@operation(
    "Upload grids (GeoJSON FeatureCollection or GeoPackage)",
    tag="grids",
    params=(query("crs", "coordinate system of lon/lat input", enum=list(COORDINATE_SYSTEMS)),),
    body=upload_body("grid polygons with grid_id (and name, grid_type, members)"),
    responses={
        201: ("stored; patrols of affected members re-verified", "UploadResult"),
        200: ("a repeat of an earlier request: its stored answer", "UploadResult"),
    },
)
@requires("admin")
@limit_uploads
def upload_grids():
    return handle_upload("grids")


@bp.get("")
@operation("List grids as GeoJSON", tag="grids")
@requires("supervisor", "auditor")
def list_grids():
    with get_store().read() as conn:
        features = queries.list_grids(conn, grid_scope(g.principal))
    return jsonify({"type": "FeatureCollection", "features": features})
