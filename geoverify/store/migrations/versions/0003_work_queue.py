"""Incremental verification: the work queue and the space-time index of day tracks.

- ``work``: member-days whose stored result is pending (claimed by workers with a lease);
- ``day_tracks``: each verified member-day's track as DUPLICATE_TRACK compares it, with its
  two-phones partners;
- ``track_cells``: per member-day, time bucket and 0.01° tile, the lon/lat box of the track.

Existing stores keep their patrols; their day tracks are filled in the next time each member-day
is verified (``geoverify reverify`` fills them all at once). On PostgreSQL the text columns get
the ``"C"`` collation, as in revision 0002.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work",
        sa.Column("member_id", sa.String(100), primary_key=True),
        sa.Column("date", sa.String(10), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("enqueued_ns", sa.BigInteger, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until_ns", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_work_enqueued", "work", ["enqueued_ns"])
    op.create_table(
        "day_tracks",
        sa.Column("member_id", sa.String(100), primary_key=True),
        sa.Column("date", sa.String(10), primary_key=True),
        sa.Column("summary_sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.LargeBinary, nullable=False),
        sa.Column("partners", sa.Text, nullable=False),
    )
    op.create_table(
        "track_cells",
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("tile", sa.BigInteger, nullable=False),
        sa.Column("min_lon", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lon", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
    )
    op.create_index("ix_track_cells_tile", "track_cells", ["date", "tile", "bucket"])
    op.create_index("ix_track_cells_member", "track_cells", ["member_id", "date"])
    if op.get_bind().dialect.name == "postgresql":
        for table, column, kind in (
            ("work", "member_id", "varchar(100)"),
            ("work", "date", "varchar(10)"),
            ("work", "claimed_by", "varchar(100)"),
            ("day_tracks", "member_id", "varchar(100)"),
            ("day_tracks", "date", "varchar(10)"),
            ("day_tracks", "summary_sha256", "varchar(64)"),
            ("day_tracks", "partners", "text"),
            ("track_cells", "member_id", "varchar(100)"),
            ("track_cells", "date", "varchar(10)"),
        ):
            op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {kind} COLLATE "C"')


def downgrade() -> None:
    op.drop_table("track_cells")
    op.drop_table("day_tracks")
    op.drop_table("work")
