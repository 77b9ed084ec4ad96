"""PostgreSQL: PostGIS geometry of grids (GiST index), byte-order collation, 64-bit fix ids.

On PostgreSQL this revision

- makes sure the ``postgis`` extension is there (creating it needs the right to; the error says
  what to ask the database administrator for);
- adds ``grids.geom``, a ``geometry(Geometry, 4326)`` column generated from the GeoJSON text of
  ``grids.geometry``, so it can never disagree with it, with a GiST index;
- gives every text column the ``"C"`` collation, so that ``ORDER BY`` sorts strings by code point
  as SQLite does (page order and cursors are the same on both databases);
- widens ``fixes.fix_id`` to ``bigint`` (billions of fixes).

On SQLite it changes nothing: ``INTEGER PRIMARY KEY`` is already 64-bit, and SQLite compares
text by bytes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from geoverify.errors import StoreError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "uploads",
    "grids",
    "fixes",
    "events",
    "sites",
    "patrols",
    "flags",
    "reviews",
    "ledger",
    "audit_log",
    "audit_head",
    "tokens",
)


def _ensure_postgis(bind) -> None:
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").first():
        return
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first():
        raise StoreError(
            "the PostgreSQL server has no PostGIS: install it (Debian: postgresql-15-postgis-3; "
            "see .ci/install-postgres.sh), then run `geoverify db upgrade` again"
        )
    may_create = bind.exec_driver_sql(
        "SELECT rolsuper OR has_database_privilege(current_database(), 'CREATE') "
        "FROM pg_roles WHERE rolname = current_user"
    ).scalar()
    if not may_create:
        raise StoreError(
            f"the database {bind.engine.url.database!r} lacks the postgis extension and this role "
            "may not create it: ask the administrator to run CREATE EXTENSION postgis in it, "
            "then run `geoverify db upgrade` again"
        )
    bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _ensure_postgis(bind)
    text_columns = bind.execute(
        sa.text(
            "SELECT table_name, column_name, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN ('character varying', 'text') "
            "AND table_name IN :tables ORDER BY table_name, ordinal_position"
        ).bindparams(sa.bindparam("tables", expanding=True)),
        {"tables": list(TABLES)},
    ).all()
    for table, column, length in text_columns:
        kind = f"varchar({length})" if length else "text"
        op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {kind} COLLATE "C"')
    op.execute("ALTER TABLE fixes ALTER COLUMN fix_id TYPE bigint")
    op.execute("ALTER SEQUENCE IF EXISTS fixes_fix_id_seq AS bigint")
    op.execute(
        "ALTER TABLE grids ADD COLUMN geom geometry(Geometry, 4326) "
        "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326)) STORED"
    )
    op.execute("CREATE INDEX ix_grids_geom ON grids USING gist (geom)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_grids_geom")
    op.execute("ALTER TABLE grids DROP COLUMN IF EXISTS geom")
