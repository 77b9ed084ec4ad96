"""/api/v1/tracks: upload GPS fixes (CSV, GPX with ?member_id=, GeoJSON, Parquet)."""

from flask import Blueprint, g, request

from geoverify.schema import COORDINATE_SYSTEMS

from .auth import requires
from .limits import limit_uploads
from .openapi import IDEMPOTENCY_KEY, operation, query, upload_body
from .uploads import handle_upload

bp = Blueprint("tracks", __name__, url_prefix="/api/v1/tracks")


@bp.post("")
@operation(
    "Upload a track",
    tag="tracks",
    description="Fixes are stored once per member and time; the patrols of every affected local date "
    "are re-verified and their credit changes appended to the ledger. An uploader may "
    "upload only for its members. Send an Idempotency-Key header to make retries safe.",
    params=(
        query("member_id", "member id of a GPX track (GPX has no member field)"),
        query("crs", "coordinate system of the fixes", enum=list(COORDINATE_SYSTEMS)),
        IDEMPOTENCY_KEY,
    ),
    body=upload_body("the fixes: member_id,time,lon,lat[,accuracy,speed,provider,mock,device_id]"),
    responses={
        201: ("accepted and rejected fixes (counts by reason) and (re)verified patrols", "UploadResult"),
        200: ("a repeat of an earlier request: its stored answer", "UploadResult"),
    },
)
@requires("uploader")
@limit_uploads
def upload_tracks():
    principal = g.principal
    allowed = principal.scopes if principal.role == "uploader" else None
    return handle_upload("tracks", allowed_members=allowed, member_id=request.args.get("member_id"))
