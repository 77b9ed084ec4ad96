"""A patrol's map: track parts, flags, grid and covered area."""

from __future__ import annotations

from .conftest import SAMPLES


def test_patrol_geojson_parts(with_grids, upload, client, auth):
    upload("tracks", SAMPLES / "teleport_M002.csv")
    response = client.get("/api/v1/patrols/M002_20261102/geojson", headers=auth["supervisor"])
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    doc = response.json
    assert doc["type"] == "FeatureCollection"
    assert doc["properties"]["fixes"] == 1080 and doc["properties"]["simplified"] is False
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("grid") == 1 and kinds.count("covered") == 1
    tracks = [f for f in doc["features"] if f["properties"]["kind"] == "track"]
    assert {f["properties"]["part"] for f in tracks} >= {"in_grid", "flagged"}
    # Consecutive parts share their end points, so the whole track is drawn: 1080 points.
    assert sum(f["properties"]["points"] for f in tracks) - (len(tracks) - 1) == 1080
    flags = [f for f in doc["features"] if f["properties"]["kind"] == "flag"]
    assert [f["properties"]["code"] for f in flags] == ["TELEPORT"]
    assert flags[0]["properties"]["status"] == "open" and flags[0]["geometry"]["type"] == "Point"


def test_long_track_is_simplified_for_display(with_grids, upload, client, auth):
    upload("tracks", SAMPLES / "honest_M001.csv")
    doc = client.get("/api/v1/patrols/M001_20261102/geojson", headers=auth["auditor"]).json
    assert doc["properties"]["fixes"] == 1800
    points = sum(f["properties"]["points"] for f in doc["features"] if f["properties"]["kind"] == "track")
    assert points >= 1800  # under the display limit: not simplified
    import geoverify.store.maps as maps

    old, maps.MAX_DISPLAY_POINTS = maps.MAX_DISPLAY_POINTS, 500
    try:
        doc = client.get("/api/v1/patrols/M001_20261102/geojson", headers=auth["auditor"]).json
    finally:
        maps.MAX_DISPLAY_POINTS = old
    points = sum(f["properties"]["points"] for f in doc["features"] if f["properties"]["kind"] == "track")
    assert doc["properties"]["simplified"] is True and points <= 500
