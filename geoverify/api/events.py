"""/api/v1/events: upload event reports (CSV or GeoJSON Points)."""

from flask import Blueprint, g

from geoverify.schema import COORDINATE_SYSTEMS

from .auth import requires
from .limits import limit_uploads
from .openapi import IDEMPOTENCY_KEY, operation, query, upload_body
from .uploads import handle_upload

bp = Blueprint("events", __name__, url_prefix="/api/v1/events")


@bp.post("")
@operation(
    "Upload event reports",
    tag="events",
    params=(query("crs", "coordinate system of the events", enum=list(COORDINATE_SYSTEMS)), IDEMPOTENCY_KEY),
    body=upload_body("event_id, member_id, time, lon, lat, category[, photo_sha256, description]"),
    responses={
        201: ("stored events; patrols of their dates re-verified", "UploadResult"),
        200: ("a repeat of an earlier request: its stored answer", "UploadResult"),
    },
)
@requires("uploader")
@limit_uploads
def upload_events():
    principal = g.principal
    return handle_upload("events", allowed_members=principal.scopes if principal.role == "uploader" else None)
