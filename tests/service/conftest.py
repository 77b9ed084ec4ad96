"""Fixtures of the HTTP service tests (flaskr style): ``app`` on a fresh SQLite file per test,
``client``, ``runner`` for the command line, ``tokens`` (one per role) and helpers to upload the
shipped samples. ``assert_problem`` is the one check of the problem+json error shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from api import create_app
from geoverify.store import tokens as token_store

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_tracks"
GRIDS = ROOT / "grids" / "dongcheng_sample.geojson"
NOW = "2026-11-03T00:00:00+08:00"
# Scopes of the role tokens: DC-01 holds members M001 and M002.
SCOPES = {"admin": [], "uploader": ["M001", "M002"], "supervisor": ["DC-01"], "auditor": [], "scorer": []}


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "geoverify.db"


@pytest.fixture
def app(db_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{db_path}", "NOW": NOW,
                      "MAX_CONTENT_LENGTH": 2 * 1024 * 1024, "MAX_FIXES_PER_UPLOAD": 5000})
    yield app
    app.extensions["geoverify.store"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["geoverify.store"]


@pytest.fixture
def cli():
    """The ``geoverify`` click group with the service commands attached."""
    from geoverify.cli import main
    from geoverify.service_cli import register

    if "token" not in main.commands:
        register(main)
    return main


@pytest.fixture
def runner(cli, db_path, monkeypatch):
    """Invoke ``geoverify …`` against the test's database: ``runner(["token", "list"])``."""
    monkeypatch.setenv("GEOVERIFY_DATABASE_URL", f"sqlite:///{db_path}")
    cli_runner = CliRunner()

    def invoke(args):
        return cli_runner.invoke(cli, args, catch_exceptions=False)

    return invoke


@pytest.fixture
def tokens(store) -> dict[str, str]:
    """role → bearer token (scopes as in SCOPES)."""
    issued = {}
    with store.write() as conn:
        for role, scopes in SCOPES.items():
            issued[role] = token_store.create(conn, role, scopes, f"test-{role}")[1]
    return issued


@pytest.fixture
def auth(tokens):
    """role → request headers with that role's token."""
    return {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}


@pytest.fixture
def upload(client, auth):
    """POST a file to /api/v1/<kind> as admin (or ``role``); returns the response."""
    types = {".csv": "text/csv", ".geojson": "application/geo+json", ".gpx": "application/gpx+xml"}

    def post(kind: str, data: bytes | Path, *, suffix: str = ".csv", role: str = "admin", key: str | None = None,
             query: str = ""):
        if isinstance(data, Path):
            suffix, data = data.suffix, data.read_bytes()
        headers = {**auth[role], "Content-Type": types[suffix]}
        if key:
            headers["Idempotency-Key"] = key
        return client.post(f"/api/v1/{kind}{query}", data=data, headers=headers)

    return post


@pytest.fixture
def with_grids(upload):
    response = upload("grids", GRIDS)
    assert response.status_code == 201, response.json
    return response.json


def csv_rows(path: Path) -> tuple[str, list[str]]:
    """A track CSV's header and data lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:]


@pytest.fixture(name="csv_rows")
def csv_rows_fixture():
    return csv_rows
