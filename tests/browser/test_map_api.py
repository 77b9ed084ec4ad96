"""The map blueprint through Flask's test client: pages, CSP, and the map's read endpoints
(heat map, display-simplified GeoJSON, session). No browser needed."""

import re
from pathlib import Path

import pytest
from conftest import assert_problem

from geoverify.api import create_app

from .conftest import NOW, copy_store


@pytest.fixture(scope="module")
def map_app(sample_store, tmp_path_factory):
    database, tokens = sample_store
    copy = copy_store(database, tmp_path_factory.mktemp("map_api") / "geoverify.db")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{copy}", "NOW": NOW, "TILE_URL": ""})
    yield app
    app.extensions["geoverify.store"].dispose()


@pytest.fixture
def client(map_app):
    return map_app.test_client()


@pytest.fixture
def auth(sample_store):
    return {role: {"Authorization": f"Bearer {token}"} for role, token in sample_store[1].items()}


def test_pages_carry_the_vocabulary_the_library_defines_and_no_script_repeats_it(client):
    import html as html_lib
    import json

    from geoverify.flags import SEVERITIES, SEVERITY
    from geoverify.patrol.credit import CREDIT_STATUSES
    from geoverify.store.overview import GRID_STATES, STATES
    from geoverify.store.tokens import ROLES

    for path in ("/map", "/map/report/patrol/M002_20261102", "/map/assessment"):
        page = client.get(path).get_data(as_text=True)
        (raw,) = re.findall(r"data-vocabulary='([^']*)'", page)
        vocabulary = json.loads(html_lib.unescape(raw))
        assert vocabulary["flag_codes"] == list(SEVERITY) and len(vocabulary["flag_codes"]) == 13
        assert vocabulary["severity"]["TELEPORT"] == "high" and vocabulary["severities"] == list(SEVERITIES)
        assert vocabulary["credit_statuses"] == list(CREDIT_STATUSES) == ["verified", "held", "rejected"]
        assert vocabulary["day_states"] == list(STATES) and vocabulary["grid_states"] == list(GRID_STATES)
        assert vocabulary["roles"] == list(ROLES) and vocabulary["roles_that_review"] == ["auditor", "admin"]
    scripts = Path(__file__).resolve().parents[2] / "geoverify" / "api" / "static" / "map"
    for script in scripts.glob("*.js"):
        text = script.read_text()
        # a list of codes, severities or states written out in a script (words for them live in i18n)
        assert not re.search(r'\[\s*"(TELEPORT|high|held)"\s*,', text), f"{script.name} repeats the vocabulary"


def test_pages_are_served_with_a_self_only_csp_and_no_inline_code(client):
    for path in ("/map", "/map/report/patrol/M002_20261102", "/map/report/member/M001/2026-11"):
        response = client.get(path)
        assert response.status_code == 200
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
        html = response.get_data(as_text=True)
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script
        assert " style=" not in html and "<style" not in html  # no inline style
        assert "http://" not in html and "https://" not in html  # nothing from another host
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            with client.get(asset) as served:  # closes the file it streams
                assert served.status_code == 200, asset


def test_a_month_that_is_not_yyyy_mm_is_not_found(client):
    assert client.get("/map/report/member/M001/2026-13").status_code == 404


def test_tile_url_is_passed_to_the_page_and_allowed_by_the_csp(sample_store, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
            "TILE_URL": "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        }
    )
    if "map" not in app.blueprints:
        from geoverify.api import map as map_blueprint

        app.register_blueprint(map_blueprint.bp)
    response = app.test_client().get("/map")
    assert "img-src 'self' data: https://*.tiles.example.org;" in response.headers["Content-Security-Policy"]
    assert 'data-tile-url="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in response.get_data(as_text=True)
    app.extensions["geoverify.store"].dispose()


def test_session_says_who_may_review(client, auth):
    assert client.get("/api/v1/map/session", headers=auth["auditor"]).get_json()["can_review"] is True
    body = client.get("/api/v1/map/session", headers=auth["supervisor"]).get_json()
    assert body["role"] == "supervisor" and body["scopes"] == ["DC-01"] and body["can_review"] is False
    assert_problem(client.get("/api/v1/map/session"), 401)


def test_heat_map_accounts_for_the_counted_time_of_the_grids_patrols(client, auth):
    response = client.get("/api/v1/map/heatmap?grid_id=DC-01&date=2026-11-02&cell_m=25", headers=auth["auditor"])
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    doc = response.get_json()
    props = doc["properties"]
    assert props["members"] == ["M001", "M002"] and props["cell_m"] == 25
    patrols = [
        client.get(f"/api/v1/patrols/{p}", headers=auth["auditor"]).get_json()
        for p in ("M001_20261102", "M002_20261102")
    ]
    counted = sum(p["in_grid_s"] + p["outside_s"] for p in patrols)
    # every counted second (no gaps, no teleport) lands in a cell or outside the grid's box
    assert props["total_s"] + props["outside_s"] == pytest.approx(counted, abs=1)
    assert props["total_s"] >= sum(p["in_grid_s"] for p in patrols) - 1
    assert sum(f["properties"]["seconds"] for f in doc["features"]) == pytest.approx(props["total_s"], abs=1)
    assert max(f["properties"]["seconds"] for f in doc["features"]) == props["max_s"]


@pytest.mark.parametrize(
    "query, status",
    [
        ("grid_id=DC-01", 400),
        ("date=2026-11-02", 400),
        ("grid_id=DC-01&date=2026-11-02&cell_m=1", 400),
        ("grid_id=DC-01&date=2026-11-02&cell_m=abc", 400),
        ("grid_id=DC-01&date=2026-13-02", 400),
        ("grid_id=NOPE&date=2026-11-02", 404),
    ],
)
def test_heat_map_bad_requests_answer_problems(client, auth, query, status):
    assert_problem(client.get(f"/api/v1/map/heatmap?{query}", headers=auth["auditor"]), status)


def test_heat_map_of_another_supervisors_grid_is_not_found(client, auth):
    assert_problem(client.get("/api/v1/map/heatmap?grid_id=DC-02&date=2026-11-02", headers=auth["supervisor"]), 404)
    ok = client.get("/api/v1/map/heatmap?grid_id=DC-01&date=2026-11-02", headers=auth["supervisor"])
    assert ok.status_code == 200


def test_display_geojson_is_simplified_in_metres_and_keeps_the_figures(client, auth):
    def track_points(tolerance):
        doc = client.get(
            f"/api/v1/map/patrols/M001_20261102/geojson?simplify_m={tolerance}", headers=auth["auditor"]
        ).get_json()
        assert doc["properties"]["simplify_m"] == tolerance
        return doc, sum(f["properties"]["points"] for f in doc["features"] if f["properties"]["kind"] == "track")

    full, n0 = track_points(0)
    fine, n2 = track_points(2)
    coarse, n20 = track_points(20)
    assert n0 >= 1800 > n2 > n20

    def kinds(doc):
        return sorted({f["properties"]["kind"] for f in doc["features"]})

    assert kinds(full) == kinds(coarse) == ["covered", "flag", "grid", "track"]
    assert full["properties"]["credit"] == coarse["properties"]["credit"]
    assert_problem(client.get("/api/v1/map/patrols/M001_20261102/geojson?simplify_m=-1", headers=auth["auditor"]), 400)
    assert_problem(client.get("/api/v1/map/patrols/M003_20261102/geojson", headers=auth["supervisor"]), 404)


def test_the_map_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/map/heatmap", "/api/v1/map/session", "/api/v1/map/patrols/{patrol_id}/geojson"):
        assert "get" in paths[path]
