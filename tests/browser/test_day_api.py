"""The day overview's endpoint (GET /api/v1/map/day), the flag counts of the patrol list and gzip,
through Flask's test client over a copy of the sample store. No browser needed."""

import gzip
import json

import pytest
from conftest import assert_problem

from geoverify.api import create_app

from .conftest import NOW, copy_store

DAY = "2026-11-02"


@pytest.fixture(scope="module")
def day_app(sample_store, tmp_path_factory):
    database, _ = sample_store
    copy = copy_store(database, tmp_path_factory.mktemp("day_api") / "geoverify.db")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{copy}", "NOW": NOW, "TILE_URL": ""})
    yield app
    app.extensions["geoverify.store"].dispose()


@pytest.fixture
def client(day_app):
    return day_app.test_client()


@pytest.fixture
def auth(sample_store):
    return {role: {"Authorization": f"Bearer {token}"} for role, token in sample_store[1].items()}


def test_the_day_gives_each_grid_its_state_and_each_patrol_its_flags(client, auth):
    response = client.get("/api/v1/map/day", headers=auth["auditor"])  # no date: the latest with patrols
    assert response.status_code == 200
    day = response.get_json()
    assert day["date"] == DAY and day["dates"] == [DAY]
    grids = {g["grid_id"]: g for g in day["grids"]}
    assert {g: grids[g]["state"] for g in grids} == {
        "DC-01": "held",
        "DC-02": "flagged",
        "DC-03": "flagged",
        "DC-04": "held",
        "DC-05": "held",
        "DC-06": "below",
    }
    assert grids["DC-01"]["states"] == {"held": 1, "flagged": 1} and grids["DC-01"]["patrols"] == 2
    patrols = {p["patrol_id"]: p for p in day["patrols"]}
    assert len(patrols) == 12
    # M001: its GAP and the three flags of its event reports, as its panel lists them
    m001 = patrols["M001_20261102"]
    assert (m001["flags"], m001["open_flags"], m001["severity"]) == (4, 4, "high")
    assert m001["codes"] == ["EVENT_DUPLICATE", "EVENT_FAR_FROM_TRACK", "EVENT_OUTSIDE_GRID", "GAP"]
    assert patrols["M002_20261102"]["state"] == "held"
    assert patrols["M010_20261102"]["below"] == ["time", "coverage"]
    assert patrols["M012_20261102"]["below"] == ["no_grid"]
    assert day["counts"]["grids"] == {"held": 3, "rejected": 0, "below": 1, "flagged": 2, "credited": 0, "none": 0}
    assert day["counts"]["patrols"] == {"held": 4, "rejected": 0, "below": 2, "flagged": 6, "credited": 0}
    assert sum(day["counts"]["open_flags"].values()) == len(day["flags"]) == 18
    assert all(f["lon"] is not None and f["lat"] is not None for f in day["flags"])


def test_the_patrol_list_counts_event_flags_too(client, auth):
    page = client.get("/api/v1/patrols?member_id=M001", headers=auth["auditor"]).get_json()
    detail = client.get("/api/v1/patrols/M001_20261102", headers=auth["auditor"]).get_json()
    assert page["patrols"][0]["flags"] == len(detail["flags"]) + len(detail["event_flags"]) == 4


def test_a_supervisor_sees_only_the_grids_of_the_scope(client, auth):
    day = client.get(f"/api/v1/map/day?date={DAY}", headers=auth["supervisor"]).get_json()
    assert [g["grid_id"] for g in day["grids"]] == ["DC-01"]
    assert sorted(p["member_id"] for p in day["patrols"]) == ["M001", "M002"]
    assert {f["grid_id"] for f in day["flags"]} == {"DC-01"}


def test_a_day_without_patrols_shows_every_grid_not_patrolled(client, auth):
    day = client.get("/api/v1/map/day?date=2026-11-05", headers=auth["auditor"]).get_json()
    assert day["counts"]["grids"]["none"] == 6 and day["patrols"] == [] and day["flags"] == []


def test_bad_requests_answer_problems(client, auth):
    assert_problem(client.get("/api/v1/map/day?date=2026-13-01", headers=auth["auditor"]), 400)
    assert_problem(client.get("/api/v1/map/day"), 401)


def test_the_day_endpoint_is_in_the_openapi_document(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/map/day"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["date"]
    assert operation["security"] == [{"bearer": []}]


def test_json_and_assets_are_gzipped_when_the_client_asks(client, auth):
    plain = client.get(f"/api/v1/map/day?date={DAY}", headers=auth["auditor"])
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    packed = client.get(f"/api/v1/map/day?date={DAY}", headers={**auth["auditor"], "Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    track = client.get(
        "/api/v1/map/patrols/M001_20261102/geojson", headers={**auth["auditor"], "Accept-Encoding": "gzip"}
    )
    assert track.headers["Content-Encoding"] == "gzip" and track.mimetype == "application/geo+json"
    leaflet = "/static/vendor/leaflet-1.9.4/leaflet.js"
    with client.get(leaflet, headers={"Accept-Encoding": "gzip"}) as script, client.get(leaflet) as original:
        assert script.headers["Content-Encoding"] == "gzip" and len(script.data) < 60_000
        assert gzip.decompress(script.data) == original.data
        etag = script.headers["ETag"]  # weak: revalidation still answers 304
    assert etag.startswith("W/")
    with client.get(leaflet, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}) as again:
        assert again.status_code == 304
    # small answers, and clients that do not ask, get plain bodies
    session = client.get("/api/v1/map/session", headers={**auth["auditor"], "Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in session.headers and session.get_json()["role"] == "auditor"
    refused = client.get("/api/v1/map/day", headers={"Accept-Encoding": "gzip;q=0, identity"} | auth["auditor"])
    assert "Content-Encoding" not in refused.headers
