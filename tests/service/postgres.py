"""The PostgreSQL server of the tests and benchmarks, in one place.

It is a cluster of its own that ``.ci/test-postgres.sh`` makes and runs (its own data directory
and port, 127.0.0.1:54329 unless ``$GEOVERIFY_TEST_PG_PORT`` says otherwise), beside whatever
PostgreSQL the machine runs, which it never touches. It holds the role ``geoverify`` (password
``geoverify``, may create databases) and the template database ``geoverify_test`` with PostGIS;
tests and benchmarks create a fresh database from that template and drop it afterwards.

``$GEOVERIFY_TEST_POSTGRES_URL`` points them at another server instead (its role must be allowed
to create databases, and its template database must hold the postgis extension); then nothing is
started here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy import URL, make_url

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "test-postgres.sh"
PORT = int(os.environ.get("GEOVERIFY_TEST_PG_PORT", "54329"))
DEFAULT_URL = f"postgresql+psycopg://geoverify:geoverify@127.0.0.1:{PORT}/geoverify_test"


def template_url() -> URL:
    """The SQLAlchemy URL of the template database (``$GEOVERIFY_TEST_POSTGRES_URL`` or the own cluster's)."""
    return make_url(os.environ.get("GEOVERIFY_TEST_POSTGRES_URL", DEFAULT_URL))


def database_url(name: str) -> str:
    """The SQLAlchemy URL (password included) of database ``name`` on the template's server."""
    return template_url().set(database=name).render_as_string(hide_password=False)


def connect_admin(url: URL | None = None):
    """An autocommit psycopg connection to the ``postgres`` database of the template's server."""
    import psycopg

    url = url or template_url()
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def ensure_started() -> None:
    """Start the own cluster when it is the one in use and it is down (``.ci/test-postgres.sh start``:
    made the first time, then reused; it keeps running until ``bash .ci/test-postgres.sh stop``).

    Raises
    ------
    RuntimeError
        The script failed (no PostgreSQL installed, port taken…); its message says why.
    """
    if "GEOVERIFY_TEST_POSTGRES_URL" in os.environ:
        return
    if subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0:
        return
    result = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or result.stdout.strip())
