"""Security: token comparison, error bodies without internals, no cookies, CORS closed unless
configured, per-token upload rate limits, security headers on every response."""

from __future__ import annotations

import hmac
import re

import pytest

from geoverify.api import create_app
from geoverify.store import tokens as token_store

from .conftest import NOW, SAMPLES

TELEPORT = SAMPLES / "teleport_M002.csv"
# What an error body must never hold: a traceback, SQL, the driver's name, a server path.
LEAKS = (
    "Traceback",
    "sqlalchemy",
    "sqlite3.",
    "OperationalError",
    "DatabaseError",
    "psycopg",
    "SELECT ",
    "INSERT INTO",
    "/tmp/",
    "/work/",
    '.py"',
    "site-packages",
    "file is not a database",
)
# Every kind of response the service gives: API JSON, GeoJSON, problems, HTML pages, static files.
PAGES = ("/map", "/map/report/patrol/M002_20261102", "/map/report/member/M002/2026-11")
STATIC = ("/static/map/map.js", "/static/map/map.css", "/static/vendor/leaflet-1.9.4/leaflet.js")


@pytest.fixture
def loaded(with_grids, upload):
    assert upload("tracks", TELEPORT).status_code == 201


def _responses(client, auth):
    """(what, response) for a request of every kind, as each role that may make it."""
    yield "openapi", client.get("/api/v1/openapi.json")
    for path in (
        "/api/v1/patrols",
        "/api/v1/patrols/M002_20261102",
        "/api/v1/patrols/M002_20261102/geojson",
        "/api/v1/flags",
        "/api/v1/grids",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/map/session",
        "/api/v1/map/patrols/M002_20261102/geojson",
        "/api/v1/map/heatmap?grid_id=DC-01&date=2026-11-02",
    ):
        yield path, client.get(path, headers=auth["auditor"])
    yield "credits", client.get("/api/v1/credits", headers=auth["scorer"])
    yield (
        "upload",
        client.post(
            "/api/v1/tracks",
            data=(SAMPLES / "honest_M001.csv").read_bytes(),
            headers={**auth["admin"], "Content-Type": "text/csv"},
        ),
    )
    yield "401", client.get("/api/v1/patrols")
    yield "403", client.get("/api/v1/credits", headers=auth["supervisor"])
    yield "404", client.get("/api/v1/patrols/nobody_20261102", headers=auth["auditor"])
    yield "404 route", client.get("/nothing/here")
    yield "405", client.delete("/api/v1/credits", headers=auth["scorer"])
    yield (
        "422",
        client.post(
            "/api/v1/tracks", data=b"member_id,time\nM001,x\n", headers={**auth["admin"], "Content-Type": "text/csv"}
        ),
    )
    for path in PAGES + STATIC:
        with client.get(path) as response:  # closes a static file's stream, which the test does not read
            yield path, response


def test_compares_token_digests_in_constant_time(store, tokens, monkeypatch):
    """The digest found by the lookup is compared with hmac.compare_digest before it is trusted."""
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(token_store.hmac, "compare_digest", spy)
    with store.read() as conn:
        principal = token_store.authenticate(conn, tokens["auditor"])
        assert token_store.authenticate(conn, tokens["auditor"] + "x") is None
    assert principal.role == "auditor"
    digest = token_store.token_digest(tokens["auditor"])
    assert seen == [(digest, digest)]  # the unknown token's digest matched no row: nothing to compare


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "a" * 10_000,
        "bearer gv_\u00e9\u00e8",
        "Bearer gv_x gv_y",
        "Token gv_abc",
    ],
)
def test_odd_authorization_headers_are_401(client, tokens, header, assert_problem):
    response = client.get("/api/v1/patrols", headers={"Authorization": header})
    body = assert_problem(response, 401, detail_has="token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="geoverify"'
    assert not any(marker in str(body) for marker in LEAKS)


def test_no_cookie_and_security_headers_on_every_response(loaded, client, auth):
    seen = set()
    for what, response in _responses(client, auth):
        headers = response.headers
        seen.add(response.status_code)
        assert "Set-Cookie" not in headers, what
        assert headers["X-Content-Type-Options"] == "nosniff", what
        assert headers["Referrer-Policy"] == "no-referrer", what
        assert headers["X-Frame-Options"] == "DENY", what
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], what
        assert "Access-Control-Allow-Origin" not in headers, what
        if what.startswith("/static/"):
            continue
        assert headers["Cache-Control"] == "no-store", what
        if response.mimetype == "text/html":
            _assert_own_assets_only(headers["Content-Security-Policy"], what)
        else:
            assert headers["Content-Security-Policy"].startswith("default-src 'none'"), what
    assert {200, 201, 401, 403, 404, 405, 422} <= seen


def _assert_own_assets_only(csp: str, what: str) -> None:
    """Every fetch directive of the page's CSP allows this origin only (images also data: URIs)."""
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    for name in ("default-src", "script-src", "style-src", "font-src", "connect-src"):
        assert directives[name] == "'self'", (what, name, directives[name])
    assert directives["img-src"] == "'self' data:", what
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'", what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, what


def test_pages_load_only_their_own_assets(client):
    """The HTML references only paths on this origin: no CDN, no inline script or style."""
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        sources = [s for s in re.findall(r'(?:src|href)="([^"]+)"', html) if not s.startswith("#")]  # in-page links
        assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), (path, sources)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html and " style=" not in html


def test_cors_closed_by_default(loaded, client, auth):
    evil = {"Origin": "https://evil.example"}
    response = client.get("/api/v1/patrols", headers={**auth["auditor"], **evil})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/v1/tracks",
        headers={**evil, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status_code == 200
    assert not [h for h in preflight.headers.keys() if h.lower().startswith("access-control-")]


def test_cors_allow_list(database_url, assert_problem):
    app = create_app(
        {"DATABASE_URL": database_url, "NOW": NOW, "CORS_ORIGINS": "https://score.example.gov.cn, http://10.1.2.3:8080"}
    )
    try:
        client = app.test_client()
        friend = {"Origin": "https://score.example.gov.cn"}
        preflight = client.options("/api/v1/credits", headers={**friend, "Access-Control-Request-Method": "GET"})
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://score.example.gov.cn"
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        # Origin decides the grant (and Accept-Encoding whether a body is gzipped, geoverify/api/compress.py).
        assert {v.strip() for v in preflight.headers["Vary"].split(",")} <= {"Origin", "Accept-Encoding"}
        assert "Origin" in preflight.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in preflight.headers  # no cookies to share
        response = client.get("/api/v1/credits", headers=friend)  # the grant does not replace the token
        assert_problem(response, 401)
        assert response.headers["Access-Control-Allow-Origin"] == "https://score.example.gov.cn"
        other = client.get("/api/v1/credits", headers={"Origin": "https://score.example.gov.cn.evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        app.extensions["geoverify.store"].dispose()
    for bad in ("*", "score.example.gov.cn", "https://score.example.gov.cn/api"):
        with pytest.raises(ValueError, match="CORS_ORIGINS"):
            create_app({"DATABASE_URL": database_url, "CORS_ORIGINS": bad})


def test_upload_rate_limit_per_token(database_url, csv_rows, assert_problem):
    app = create_app({"DATABASE_URL": database_url, "NOW": NOW, "UPLOAD_RATE_LIMIT": "3/minute"})
    store = app.extensions["geoverify.store"]
    try:
        with store.write() as conn:
            first = token_store.create(conn, "uploader", ["M001"], "phone-1")[1]
            second = token_store.create(conn, "uploader", ["M001"], "phone-2")[1]
        client = app.test_client()
        header, rows = csv_rows(SAMPLES / "honest_M001.csv")

        def post(token, i):
            body = "\n".join([header, rows[i]]).encode()
            return client.post(
                "/api/v1/tracks", data=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
            )

        remaining = []
        for i in range(3):
            response = post(first, i)
            assert response.status_code == 201, response.get_json()
            remaining.append(response.headers["X-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"] and response.headers["X-RateLimit-Limit"] == "3"
        refused = post(first, 3)
        assert_problem(refused, 429, detail_has="phone-1")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert post(second, 4).status_code == 201  # another token has its own count
        assert client.get("/api/v1/openapi.json").status_code == 200  # reads are not limited
        assert_problem(client.post("/api/v1/tracks", data=b"x", headers={"Content-Type": "text/csv"}), 401)
        with store.read() as conn:  # the refused upload stored nothing
            assert conn.exec_driver_sql("SELECT count(*) FROM fixes").scalar_one() == 4
    finally:
        store.dispose()


def test_rate_limit_settings(database_url, monkeypatch):
    monkeypatch.setenv("GEOVERIFY_UPLOAD_RATE_LIMIT", "5/second;100/hour")
    app = create_app({"DATABASE_URL": database_url})
    limiter, items = app.extensions["geoverify.upload_limits"]
    assert [str(item) for item in items] == ["5 per 1 second", "100 per 1 hour"] and limiter is not None
    app.extensions["geoverify.store"].dispose()
    monkeypatch.setenv("GEOVERIFY_RATELIMIT_ENABLED", "false")
    app = create_app({"DATABASE_URL": database_url})
    assert app.extensions["geoverify.upload_limits"][0] is None
    app.extensions["geoverify.store"].dispose()
    monkeypatch.setenv("GEOVERIFY_RATELIMIT_STRATEGY", "token-bucket")
    with pytest.raises(ValueError, match="RATELIMIT_STRATEGY 'token-bucket' is unknown"):
        create_app({"DATABASE_URL": database_url})
    monkeypatch.delenv("GEOVERIFY_RATELIMIT_STRATEGY")
    monkeypatch.setenv("GEOVERIFY_UPLOAD_RATE_LIMIT", "lots")
    with pytest.raises(ValueError, match="UPLOAD_RATE_LIMIT 'lots'"):
        create_app({"DATABASE_URL": database_url})


def test_store_failures_leak_nothing(app, loaded, client, auth, db_path, assert_problem):
    """A broken database answers a problem with no SQL, driver, path or traceback in it."""
    store = app.extensions["geoverify.store"]
    store.dispose()
    for suffix in ("-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    db_path.write_bytes(b"this is not a database file at all " * 200)  # a corrupted store
    for path, role in (("/api/v1/patrols", "auditor"), ("/api/v1/credits", "scorer")):
        response = client.get(path, headers=auth[role])
        body = assert_problem(response, 500, detail_has="service log")
        assert not [m for m in LEAKS if m in response.get_data(as_text=True)], body
    store.dispose()
    for suffix in ("", "-wal", "-shm"):  # the store's file is deleted under the running service
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    response = client.get("/api/v1/flags", headers=auth["auditor"])
    body = assert_problem(response, 503, detail_has="GEOVERIFY_DATABASE_URL")
    assert response.headers["Retry-After"] == "5"
    assert not [m for m in LEAKS if m in response.get_data(as_text=True)], body
