"""The store's schema: migrations create exactly the tables of schema.py; an upgrade keeps data."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from geoverify.store import Store
from geoverify.store.db import current_revision, make_engine, upgrade
from geoverify.store.schema import metadata


def test_migrations_match_the_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(engine)
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrade_keeps_data(tmp_path, runner, db_path, store, with_grids):
    before = sqlite3.connect(db_path).execute("SELECT count(*) FROM grids").fetchone()[0]
    result = runner(["db", "upgrade"])
    assert result.exit_code == 0 and "0001 -> 0001" in result.output
    reopened = Store.open(f"sqlite:///{db_path}")
    with reopened.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM grids").scalar() == before == 6
    reopened.dispose()


def test_fresh_database_by_command(tmp_path, cli):
    from click.testing import CliRunner

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0 and "(empty) -> 0001" in result.output
