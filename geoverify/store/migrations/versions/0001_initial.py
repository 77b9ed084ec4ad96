"""The first schema: uploads, grids, fixes, events, sites, patrols, flags, reviews, ledger,
audit log, tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
    )
    op.create_index("ix_uploads_request", "uploads", ["request_sha256"])
    op.create_table(
        "grids",
        sa.Column("grid_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("grid_type", sa.String(100)),
        sa.Column("members", sa.Text, nullable=False),
        sa.Column("geometry", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "fixes",
        sa.Column("fix_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("speed", sa.Float),
        sa.Column("provider", sa.String(20)),
        sa.Column("mock", sa.Boolean),
        sa.Column("device_id", sa.String(100)),
        sa.Column("crs", sa.String(10), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
        sa.UniqueConstraint("member_id", "time_ns", name="uq_fixes_member_time"),
    )
    op.create_index("ix_fixes_time", "fixes", ["time_ns"])
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("photo_sha256", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    )
    op.create_index("ix_events_time", "events", ["time_ns"])
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(100), primary_key=True),
        sa.Column("grid_id", sa.String(100), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("tier", sa.String(10)),
        sa.Column("name", sa.String(200)),
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    )
    op.create_table(
        "patrols",
        sa.Column("patrol_id", sa.String(120), primary_key=True),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("grid_id", sa.String(100)),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("verified_s", sa.Float, nullable=False),
        sa.Column("credit_status", sa.String(10), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("rule_version", sa.String(100), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("verified_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_patrols_date", "patrols", ["date"])
    op.create_index("ix_patrols_grid", "patrols", ["grid_id"])
    op.create_index("ix_patrols_member", "patrols", ["member_id"])
    op.create_table(
        "flags",
        sa.Column("flag_id", sa.String(200), primary_key=True),
        sa.Column("patrol_id", sa.String(120)),
        sa.Column("event_id", sa.String(100)),
        sa.Column("member_id", sa.String(100)),
        sa.Column("grid_id", sa.String(100)),
        sa.Column("date", sa.String(10)),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("start", sa.String(40)),
        sa.Column("end", sa.String(40)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("evidence", sa.Text, nullable=False),
    )
    op.create_index("ix_flags_patrol", "flags", ["patrol_id"])
    op.create_table(
        "reviews",
        sa.Column("review_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag_id", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_reviews_flag", "reviews", ["flag_id"])
    op.create_table(
        "ledger",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("credit_id", sa.String(40), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reverses", sa.String(40)),
        sa.Column("patrol_id", sa.String(120), nullable=False),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("grid_id", sa.String(100)),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("verified_s", sa.Float, nullable=False),
        sa.Column("rule_version", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_ledger_patrol", "ledger", ["patrol_id", "seq"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(200)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40)),
    )


def downgrade() -> None:
    for table in (
        "tokens",
        "audit_head",
        "audit_log",
        "ledger",
        "reviews",
        "flags",
        "patrols",
        "sites",
        "events",
        "fixes",
        "grids",
        "uploads",
    ):
        op.drop_table(table)
