"""/api/v1/sites: upload sites (households, key points; CSV or GeoJSON Points)."""

from flask import Blueprint

from geoverify.schema import COORDINATE_SYSTEMS

from .auth import requires
from .limits import limit_uploads
from .openapi import IDEMPOTENCY_KEY, operation, query, upload_body
from .uploads import handle_upload

bp = Blueprint("sites", __name__, url_prefix="/api/v1/sites")


@bp.post("")
@operation(
    "Upload sites",
    tag="sites",
    params=(query("crs", "coordinate system of the sites", enum=list(COORDINATE_SYSTEMS)), IDEMPOTENCY_KEY),
    body=upload_body("site_id, grid_id, lon, lat[, tier, name]"),
    responses={
        201: ("stored sites; patrols of their grids re-verified", "UploadResult"),
        200: ("a repeat of an earlier request: its stored answer", "UploadResult"),
    },
)
@requires("admin")
@limit_uploads
def upload_sites():
    return handle_upload("sites")
