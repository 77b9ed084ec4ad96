"""Every endpoint with every role: who may call what, and scopes (404 outside, lists filtered)."""

from __future__ import annotations

import pytest

from .conftest import GRIDS, SAMPLES

ROLES = ("admin", "uploader", "supervisor", "auditor", "scorer")
READERS = {"admin", "supervisor", "auditor"}
# (method, path, body kind, roles allowed)
ENDPOINTS = [
    ("POST", "/api/v1/grids", "grids", {"admin"}),
    ("GET", "/api/v1/grids", None, READERS),
    ("POST", "/api/v1/tracks", "tracks", {"admin", "uploader"}),
    ("POST", "/api/v1/events", "events", {"admin", "uploader"}),
    ("POST", "/api/v1/sites", "sites", {"admin"}),
    ("GET", "/api/v1/patrols", None, READERS),
    ("GET", "/api/v1/patrols/M002_20261102", None, READERS),
    ("GET", "/api/v1/patrols/M002_20261102/geojson", None, READERS),
    ("GET", "/api/v1/flags", None, READERS),
    ("POST", "/api/v1/flags/{teleport}/review", "review", {"admin", "auditor"}),
    ("GET", "/api/v1/flags/queue", None, {"admin", "auditor"}),
    ("GET", "/api/v1/flags/{teleport}/preview", None, {"admin", "auditor"}),
    ("GET", "/api/v1/credits", None, {"admin", "scorer"}),
    ("GET", "/api/v1/audit", None, {"admin", "auditor"}),
    ("GET", "/api/v1/audit/verify", None, {"admin", "auditor"}),
    ("GET", "/api/v1/audit/checkpoints", None, {"admin", "auditor", "scorer"}),
    ("GET", "/api/v1/map/session", None, READERS),
    ("GET", "/api/v1/map/patrols/M002_20261102/geojson", None, READERS),
    ("GET", "/api/v1/map/heatmap?grid_id=DC-01&date=2026-11-02", None, READERS),
    ("GET", "/api/v1/map/day?date=2026-11-02", None, READERS),
    ("GET", "/api/v1/assessment?period=2026-11", None, READERS),
]
PUBLIC = {"openapi.openapi_document", "index.api_index"}  # the OpenAPI document and the index need no token
BODIES = {
    "grids": (GRIDS, "application/geo+json"),
    "tracks": (SAMPLES / "teleport_M002.csv", "text/csv"),
    "events": (None, "text/csv"),
    "sites": (SAMPLES / "sites" / "sites.csv", "text/csv"),
}
EVENT_OF_M002 = (
    b"event_id,member_id,time,lon,lat,category\nE900,M002,2026-11-02T09:00:00+08:00,116.4095,39.9415,garbage\n"
)


@pytest.fixture
def loaded(with_grids, upload):
    assert upload("tracks", SAMPLES / "teleport_M002.csv").status_code == 201
    assert upload("tracks", SAMPLES / "idle_M004.csv").status_code == 201


def _call(client, method, path, kind, headers, teleport):
    path = path.replace("{teleport}", teleport)
    if kind is None:
        return client.open(path, method=method, headers=headers)
    if kind == "review":
        # admin and auditor both review the flag: the second overturns the first, and says so
        return client.post(path, headers=headers, json={"decision": "dismiss", "note": "role matrix", "overturn": True})
    data, mimetype = BODIES[kind]
    body = EVENT_OF_M002 if kind == "events" else data.read_bytes()
    return client.post(path, headers={**headers, "Content-Type": mimetype}, data=body)


@pytest.mark.parametrize("method,path,kind,allowed", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_role_matrix(loaded, client, auth, method, path, kind, allowed, assert_problem):
    teleport = client.get("/api/v1/flags?code=TELEPORT", headers=auth["auditor"]).json["flags"][0]["flag_id"]
    assert_problem(_call(client, method, path, kind, {}, teleport), 401, detail_has="Bearer")
    assert_problem(_call(client, method, path, kind, {"Authorization": "Bearer gv_wrong"}, teleport), 401)
    outcomes = {}
    for role in ROLES:
        response = _call(client, method, path, kind, auth[role], teleport)
        outcomes[role] = response.status_code
        if role in allowed:
            assert response.status_code in (200, 201), (role, response.get_json())
        else:
            assert_problem(response, 403, detail_has=role)
    assert {r for r, s in outcomes.items() if s in (200, 201)} == allowed


def test_matrix_covers_every_endpoint(app):
    """A new endpoint under /api/v1 must be added to the matrix above (or be public on purpose)."""
    adapter = app.url_map.bind("localhost")
    covered = {
        (method, adapter.match(path.split("?")[0].replace("{teleport}", "F1"), method=method)[0])
        for method, path, _, _ in ENDPOINTS
    }
    routed = {
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint not in PUBLIC
    }
    assert covered == routed


def test_supervisor_sees_only_its_grid(loaded, client, auth, assert_problem):
    own = client.get("/api/v1/patrols", headers=auth["supervisor"]).json
    assert [p["patrol_id"] for p in own["patrols"]] == ["M002_20261102"] and own["total"] == 1
    every = client.get("/api/v1/patrols", headers=auth["auditor"]).json
    assert [p["patrol_id"] for p in every["patrols"]] == ["M002_20261102", "M004_20261102"]
    for path in ("/api/v1/patrols/M004_20261102", "/api/v1/patrols/M004_20261102/geojson"):
        assert_problem(client.get(path, headers=auth["supervisor"]), 404, detail_has="M004_20261102")
    flags = client.get("/api/v1/flags", headers=auth["supervisor"]).json["flags"]
    assert {f["grid_id"] for f in flags} == {"DC-01"}
    assert client.get("/api/v1/flags?grid_id=DC-02", headers=auth["supervisor"]).json["total"] == 0
    assert client.get("/api/v1/flags?grid_id=DC-02", headers=auth["auditor"]).json["total"] >= 1


def test_revoked_token_is_refused(loaded, client, auth, runner, assert_problem):
    assert client.get("/api/v1/credits", headers=auth["scorer"]).status_code == 200
    result = runner(["token", "revoke", "test-scorer"])
    assert result.exit_code == 0
    assert_problem(client.get("/api/v1/credits", headers=auth["scorer"]), 401, detail_has="revoked")


def test_patrol_filters_and_paging(loaded, client, auth, assert_problem):
    page = client.get("/api/v1/patrols?limit=1", headers=auth["auditor"]).json
    assert (len(page["patrols"]), page["total"], page["next_offset"]) == (1, 2, 1)
    assert client.get("/api/v1/patrols?member_id=M004", headers=auth["auditor"]).json["total"] == 1
    assert client.get("/api/v1/patrols?date_from=2026-11-03", headers=auth["auditor"]).json["total"] == 0
    assert client.get("/api/v1/patrols?date_to=2026-11-02&grid_id=DC-02", headers=auth["auditor"]).json["total"] == 1
    assert_problem(
        client.get("/api/v1/patrols?date_from=yesterday", headers=auth["auditor"]), 400, detail_has="date_from"
    )


def test_flag_date_filters(loaded, client, auth, assert_problem):
    """The map page's date filter narrows the flag list on the server, so its totals are right."""
    every = client.get("/api/v1/flags", headers=auth["auditor"]).json["total"]
    assert every >= 1
    on_the_day = client.get("/api/v1/flags?date_from=2026-11-02&date_to=2026-11-02", headers=auth["auditor"]).json
    assert on_the_day["total"] == every
    assert {f["date"] for f in on_the_day["flags"]} == {"2026-11-02"}
    assert client.get("/api/v1/flags?date_from=2026-11-03", headers=auth["auditor"]).json["total"] == 0
    assert client.get("/api/v1/flags?date_to=2026-11-01", headers=auth["auditor"]).json["total"] == 0
    assert_problem(client.get("/api/v1/flags?date_to=soon", headers=auth["auditor"]), 400, detail_has="date_to")
