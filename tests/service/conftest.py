"""Fixtures of the HTTP service tests (flaskr style): ``app`` on a fresh database per test,
``client``, ``runner`` for the command line, ``tokens`` (one per role) and helpers to upload the
shipped samples. ``assert_problem`` is the one check of the problem+json error shape.

Backends. Every test that uses ``database_url`` (and so ``app``, ``client``, ``store``,
``runner``) runs twice, ids ``sqlite`` (a fresh file) and ``postgresql`` (a fresh database
created from the template of ``$GEOVERIFY_TEST_POSTGRES_URL``, by default the tests' own
PostgreSQL cluster on 127.0.0.1:54329, which the first ``postgresql`` case starts when it is down:
see :mod:`service.postgres` and ``.ci/test-postgres.sh``). A test that also asks for ``db_path``
opens the SQLite file itself and runs on SQLite only; use ``db_execute`` for SQL on either
database. When PostgreSQL cannot be had the ``postgresql`` cases fail with a message saying to
run ``.ci/install-postgres.sh``; ``GEOVERIFY_TEST_POSTGRES=0`` skips them deliberately.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from geoverify.api import create_app
from geoverify.store import tokens as token_store
from geoverify.store.db import Store, make_engine

from .postgres import DEFAULT_URL, connect_admin, ensure_started, template_url

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_tracks"
GRIDS = ROOT / "grids" / "dongcheng_sample.geojson"
NOW = "2026-11-03T02:00:00+08:00"  # the sample day has settled (spec "Ledger": next day 02:00)
# Scopes of the role tokens: DC-01 holds members M001 and M002.
SCOPES = {"admin": [], "uploader": ["M001", "M002"], "supervisor": ["DC-01"], "auditor": [], "scorer": []}


POSTGRES_URL = DEFAULT_URL  # the tests' own cluster (postgres.py)
BACKENDS = ("sqlite", "postgresql")
SQLITE_FILE = "geoverify.db"


def postgres_template_url():
    """The URL of the PostgreSQL template database (``$GEOVERIFY_TEST_POSTGRES_URL`` or the default)."""
    return template_url()


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        # A test that opens the SQLite file itself (db_path) is about SQLite.
        backends = ("sqlite",) if "db_path" in metafunc.fixturenames else BACKENDS
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request) -> str:
    """``sqlite`` or ``postgresql`` (parametrized by :func:`pytest_generate_tests`)."""
    return request.param


@pytest.fixture(scope="session")
def postgres_admin():
    """An autocommit psycopg connection to the test server's ``postgres`` database, and the template URL."""
    url = postgres_template_url()
    if os.environ.get("GEOVERIFY_TEST_POSTGRES", "1") == "0":
        pytest.skip("GEOVERIFY_TEST_POSTGRES=0: the postgresql cases are skipped on purpose")
    import psycopg

    try:
        ensure_started()
        conn = connect_admin(url)
    except (RuntimeError, psycopg.OperationalError) as exc:
        conn, reason = None, str(exc).strip()
    if conn is None:
        pytest.fail(
            f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)}: {reason}\n"
            "Run `bash .ci/install-postgres.sh` as root (it installs PostgreSQL with PostGIS from "
            "Debian's packages; the tests then start their own server with `bash .ci/test-postgres.sh "
            "start`), or set GEOVERIFY_TEST_POSTGRES=0 to skip the postgresql cases on purpose.",
            pytrace=False,
        )
    yield conn, url
    conn.close()


@pytest.fixture
def database_url(backend, tmp_path, request) -> str:
    """The SQLAlchemy URL of this test's fresh, empty database (no tables yet)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / SQLITE_FILE}"
        return
    conn, url = request.getfixturevalue("postgres_admin")
    name = f"gv_test_{uuid.uuid4().hex[:16]}"
    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    _drop_database(conn, name)


def _drop_database(conn, name: str, attempts: int = 20) -> None:
    """Drop a test database, ending sessions a test left open (a server process, a pool)."""
    import psycopg

    for attempt in range(attempts):
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:  # a session of another role; it will end
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)


@pytest.fixture
def db_path(tmp_path) -> Path:
    """The SQLite file of the test's store (asking for it makes a test SQLite-only)."""
    return tmp_path / SQLITE_FILE


@pytest.fixture
def db_execute(database_url):
    """Run one SQL statement on the test's database, either backend: ``db_execute("SELECT …", x=1)``
    returns the rows as tuples (an empty list for statements that return none)."""

    def execute(statement: str, **params) -> list[tuple]:
        engine = make_engine(database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    return execute


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An empty SQLite store at the newest schema revision, made once per test process.

    ``app`` copies it to a test's new SQLite file instead of running every migration again (8 ms
    instead of 40 ms a test); a fresh migration gives the same file (no rows but the revision).
    """
    path = tmp_path_factory.mktemp("migrated") / SQLITE_FILE
    store = Store.open(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    store.dispose()
    return path


@pytest.fixture
def app(database_url, request):
    if database_url.startswith("sqlite:///"):
        target = Path(database_url.removeprefix("sqlite:///"))
        if not target.exists():  # a test that made its store first keeps it as it is
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "NOW": NOW,
            "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
            "MAX_FIXES_PER_UPLOAD": 5000,
        }
    )
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
    """The ``geoverify`` click group (every command attached)."""
    from geoverify.cli.main import main

    return main


@pytest.fixture
def runner(cli, database_url, monkeypatch):
    """Invoke ``geoverify …`` against the test's database: ``runner(["token", "list"])``."""
    monkeypatch.setenv("GEOVERIFY_DATABASE_URL", database_url)
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
    """POST a file to /api/v1/<kind> as admin (or ``role``); returns the response.

    The test app runs no worker threads: by default the request waits for (and so verifies) its
    own member-days (``Prefer: wait=60``); ``wait=0`` answers with them pending.
    """
    types = {".csv": "text/csv", ".geojson": "application/geo+json", ".gpx": "application/gpx+xml"}

    def post(
        kind: str,
        data: bytes | Path,
        *,
        suffix: str = ".csv",
        role: str = "admin",
        key: str | None = None,
        query: str = "",
        wait: float = 60,
    ):
        if isinstance(data, Path):
            suffix, data = data.suffix, data.read_bytes()
        headers = {**auth[role], "Content-Type": types[suffix]}
        if wait:
            headers["Prefer"] = f"wait={wait:g}"
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
