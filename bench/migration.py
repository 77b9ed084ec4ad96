"""How long a schema migration takes on a store that already holds many fixes (not part of the tests).

Usage::

    python bench/migration.py [--fixes 2304000] [--revision 0006] [--backends sqlite postgresql]

For each backend it stores ``--fixes`` simulated fixes at the newest schema (the fast path of
``geoverify load tracks``), steps the schema back to the revision before ``--revision`` (alembic
``downgrade``), then times ``geoverify db upgrade``'s work from there to ``--revision``: what an
operator's upgrade of a store of that size costs. Revision 0006 adds the columns of uploads stored
in parts and indexes ``fixes.upload_id``, so its cost grows with the number of stored fixes.
PostgreSQL: the tests' own cluster (``.ci/test-postgres.sh``); a database is made from its
template and dropped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import DEFAULT_TEMPLATE, fix_table, postgres_database  # noqa: E402 -- sys.path set above
from bench.table import render  # noqa: E402


def measure(url: str, frame, revision: str) -> tuple[int, float]:
    """Stored fixes and the seconds the upgrade to ``revision`` took."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select

    from geoverify.store.db import MIGRATIONS, Store, current_revision, upgrade
    from geoverify.store.schema import fixes
    from geoverify.store.track_upload import store_fixes

    store = Store.open(url, now="2026-11-03T00:00:00+08:00")
    store.max_fixes_per_upload = len(frame) + 1
    store_fixes(store, frame, actor="bench")
    with store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(fixes)).scalar_one()
    engine = store.engine
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    previous = f"{int(revision) - 1:04d}"
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":  # as upgrade(): SQLite rebuilds tables without foreign keys
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        config.attributes["connection"] = connection
        command.downgrade(config, previous)
        connection.commit()
    assert current_revision(engine) == previous
    began = time.perf_counter()
    upgrade(engine, revision)
    took = time.perf_counter() - began
    assert current_revision(engine) == revision
    store.dispose()
    return stored, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=2_304_000)
    parser.add_argument("--revision", default="0006")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    frame = fix_table(args.fixes)
    rows = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="geoverify-bench-") as folder:
            if backend == "sqlite":
                url, drop = f"sqlite:///{Path(folder) / 'bench.db'}", (lambda: None)
            else:
                url, drop = postgres_database(DEFAULT_TEMPLATE)
            try:
                stored, took = measure(url, frame, args.revision)
            finally:
                drop()
        rows.append([backend, stored, args.revision, round(took, 2)])
    print(
        render(
            f"Schema upgrade to revision {args.revision} on a store of {args.fixes:,} fixes",
            ["backend", "fixes stored", "revision", "upgrade s"],
            rows,
            ["upgrade s: from the revision before to this one, as `geoverify db upgrade` runs it"],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
