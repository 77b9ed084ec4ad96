"""The store's schema on SQLite and PostgreSQL: migrations create exactly the tables of schema.py,
an upgrade keeps data, PostgreSQL gets its PostGIS geometry, and both sort text alike."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from geoverify.store import Store
from geoverify.store import tokens as token_store
from geoverify.store.db import current_revision, make_engine, upgrade
from geoverify.store.schema import in_metadata, metadata

HEAD = "0007"


def test_migrations_match_the_schema(database_url, backend):
    engine = make_engine(database_url)
    upgrade(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": in_metadata})
        with warnings.catch_warnings():  # SQLAlchemy does not know PostGIS's type; the column is left out
            warnings.filterwarnings("ignore", message="Did not recognize type 'geometry'")
            assert compare_metadata(context, metadata) == []
        if backend == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        else:
            types = dict(
                conn.exec_driver_sql(
                    "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'grids'"
                ).all()
            )
            assert types["geom"] == "geometry"
            assert types["geometry"] == "text"
            index = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_grids_geom'").scalar()
            assert "USING gist (geom)" in index
            assert (
                conn.exec_driver_sql(
                    "SELECT data_type FROM information_schema.columns WHERE table_name = 'fixes' "
                    "AND column_name = 'fix_id'"
                ).scalar()
                == "bigint"
            )
            collations = {
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT DISTINCT collation_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = ANY(%(tables)s) AND data_type IN ('text', 'character varying')",
                    {"tables": list(metadata.tables)},
                )
            }
            assert collations == {"C"}
    engine.dispose()


def test_upgrade_keeps_data(runner, database_url, store, with_grids, db_execute):
    assert db_execute("SELECT count(*) FROM grids") == [(6,)]
    result = runner(["db", "upgrade"])
    assert result.exit_code == 0 and f"{HEAD} -> {HEAD}" in result.output
    reopened = Store.open(database_url)
    with reopened.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM grids").scalar() == 6
    reopened.dispose()


def test_fresh_database_by_command(cli, database_url):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", database_url])
    assert result.exit_code == 0 and f"(empty) -> {HEAD}" in result.output


def test_postgis_geometry_follows_the_geojson(backend, store, with_grids, db_execute):
    """On PostgreSQL ``grids.geom`` is generated from the stored GeoJSON: the same polygons, and the
    GiST index answers which grid holds a point. SQLite has no such column."""
    if backend == "sqlite":
        columns = [r[1] for r in db_execute("PRAGMA table_info(grids)")]
        assert "geom" not in columns
        return
    assert db_execute(
        "SELECT count(*) FROM grids WHERE ST_Equals(geom, ST_GeomFromGeoJSON(geometry)) AND ST_SRID(geom) = 4326"
    ) == [(6,)]
    # The first vertex of DC-01's outer ring lies on DC-01; an interior point lies in DC-01 only.
    inside = db_execute(
        "SELECT grid_id FROM grids WHERE ST_Contains(geom, "
        "(SELECT ST_PointOnSurface(geom) FROM grids WHERE grid_id = 'DC-01'))"
    )
    assert inside == [("DC-01",)]
    db_execute(
        "UPDATE grids SET geometry = :g WHERE grid_id = 'DC-01'",
        g='{"type":"Polygon","coordinates":[[[116.0,39.0],[116.001,39.0],[116.001,39.001],[116.0,39.0]]]}',
    )
    assert db_execute("SELECT ST_NPoints(geom) FROM grids WHERE grid_id = 'DC-01'") == [(4,)]


def test_text_sorts_by_code_point_on_both(store):
    """Listings are ordered by code point on both databases (PostgreSQL columns use COLLATE "C")."""
    names = ["b-token", "B-token", "a-token", "_token", "Ä-token", "10-token", "9-token"]
    with store.write() as conn:
        for name in names:
            token_store.create(conn, "auditor", [], name)
    with store.read() as conn:
        listed = [t["name"] for t in token_store.listing(conn)]
    assert listed == sorted(names) == ["10-token", "9-token", "B-token", "_token", "a-token", "b-token", "Ä-token"]


def test_upgrade_to_0004_keeps_event_flags_reviews_and_keys(database_url):
    """Revision 0004 keys events by member and renames event flags (and their reviews) to
    ``<event_id>@<member_id>.…``; an Idempotency-Key becomes unique per actor."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO uploads (upload_id, kind, content_sha256, request_sha256, idempotency_key, "
                "actor, created_at, response) VALUES (1, 'events', 'c', 'r', 'k1', 'dev-a', 't', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events (event_id, member_id, time_ns, lon, lat, category, source, line, "
                "upload_id) VALUES ('E1', 'M001', 0, 116.4, 39.9, 'garbage', 'upload', 2, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO flags (flag_id, event_id, member_id, code, severity, status, evidence) "
                "VALUES ('E1.EVENT_NO_TRACK.000000Z', 'E1', 'M001', 'EVENT_NO_TRACK', 'high', "
                "'dismissed', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO reviews (flag_id, decision, note, reviewer, created_at) "
                "VALUES ('E1.EVENT_NO_TRACK.000000Z', 'dismissed', 'phone was off', 'aud', 't')"
            )
        )
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT flag_id, status FROM flags")).all() == [
            ("E1@M001.EVENT_NO_TRACK.000000Z", "dismissed")
        ]
        assert conn.execute(text("SELECT flag_id FROM reviews")).scalars().all() == ["E1@M001.EVENT_NO_TRACK.000000Z"]
        # Another member's E1 and another actor's k1 now fit beside them.
        conn.execute(
            text(
                "INSERT INTO uploads (upload_id, kind, content_sha256, request_sha256, idempotency_key, "
                "actor, created_at, response) VALUES (2, 'events', 'c2', 'r2', 'k1', 'dev-b', 't', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events (event_id, member_id, time_ns, lon, lat, category, source, line, "
                "upload_id) VALUES ('E1', 'M003', 0, 116.4, 39.9, 'garbage', 'upload', 2, 2)"
            )
        )
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 2
    engine.dispose()
