"""Where a newcomer lands: ``/`` sends a browser to the map page, ``/api/v1`` lists the API's
resources, its OpenAPI document and the map page (no token needed for either)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, url_for

from geoverify import __version__

from .openapi import operation

bp = Blueprint("index", __name__)

# What each resource holds and who may use it (the OpenAPI document has every operation).
RESOURCES = {
    "grids": "grid polygons: GET (supervisor, auditor), POST (admin)",
    "tracks": "POST GPS tracks (uploader, admin)",
    "events": "POST event reports (uploader, admin)",
    "sites": "POST households and key points (admin)",
    "patrols": "verified patrols: GET ?member_id=&grid_id=&date_from=&date_to= (supervisor, auditor)",
    "flags": "flags: GET ?status=open; POST /flags/{flag_id}/review (auditor)",
    "credits": "the credit ledger: GET ?after=<seq>&limit=<n> (scorer)",
    "audit": "the audit log: GET, and GET /audit/verify (auditor)",
    "assessment": "the month's or quarter's assessment per member and grid: GET ?period=2026-11|2026-Q4"
    "&format=json|csv|xlsx (supervisor, auditor)",
}


def _resource_paths() -> dict[str, str]:
    """The collection path of each resource, read from the URL map (``/api/v1/<name>``)."""
    rules = {rule.rule for rule in current_app.url_map.iter_rules()}
    return {name: f"/api/v1/{name}" for name in RESOURCES if f"/api/v1/{name}" in rules}


@bp.get("/")
def landing():
    """A browser opening the service lands on the map page."""
    return redirect(url_for("map.map_page"), code=302)


@bp.get("/api/v1", strict_slashes=False)
@operation(
    "What the API offers",
    tag="index",
    description="Links to the OpenAPI document, each resource and the map page. No token needed; every "
    "resource needs `Authorization: Bearer <token>` (`geoverify token create`).",
)
def api_index():
    """The API's index: its OpenAPI document, resources and the map page."""
    paths = _resource_paths()
    return jsonify(
        {
            "service": "geoverify",
            "version": __version__,
            "openapi": url_for("openapi.openapi_document"),
            "map": url_for("map.map_page"),
            "authentication": "Authorization: Bearer <token>; tokens come from `geoverify token create --role ROLE` "
            "(or the lines `geoverify demo` prints); an admin token may use every resource",
            "resources": {name: {"href": path, "description": RESOURCES[name]} for name, path in paths.items()},
        }
    )
