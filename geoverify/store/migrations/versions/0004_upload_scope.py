"""Idempotency keys and event ids belong to their uploader's scope.

- ``uploads.idempotency_key`` is no longer unique across the store: it is unique per ``actor``
  (the token name that sent the upload), so that one uploader can neither replay nor squat another's
  key;
- ``events`` are keyed by ``(member_id, event_id)``: two members' devices may both call an event
  ``E1`` without one hiding the other;
- the ids of event flags gain the member (``<event_id>@<member_id>.<CODE>.<HHMMSS>Z``), and the
  stored reviews of event flags follow them, so that a decision already taken stays attached.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from geoverify.errors import StoreError

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _new_tables() -> tuple[sa.Table, sa.Table]:
    """``uploads`` without the store-wide unique key and ``events`` keyed by member, as SQLite rebuilds them."""
    metadata = sa.MetaData()
    uploads = sa.Table(
        "uploads",
        metadata,
        sa.Column("upload_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Index("ix_uploads_request", "request_sha256"),
    )
    events = sa.Table(
        "events",
        metadata,
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("member_id", sa.String(100), primary_key=True),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("photo_sha256", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
        sa.Index("ix_events_time", "time_ns"),
    )
    return uploads, events


def _constraints(bind, table: str, kind: str) -> list[str]:
    return list(
        bind.execute(
            sa.text(
                "SELECT constraint_name FROM information_schema.table_constraints "
                "WHERE table_schema = current_schema() AND table_name = :table AND constraint_type = :kind"
            ),
            {"table": table, "kind": kind},
        ).scalars()
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in _constraints(bind, "uploads", "UNIQUE"):
            op.drop_constraint(name, "uploads", type_="unique")
        for name in _constraints(bind, "events", "PRIMARY KEY"):
            op.drop_constraint(name, "events", type_="primary")
        op.create_primary_key("events_pkey", "events", ["event_id", "member_id"])
    else:
        # SQLite cannot drop a constraint: the tables are rebuilt from the structures above.
        uploads, events = _new_tables()
        with op.batch_alter_table("uploads", recreate="always", copy_from=uploads):
            pass
        with op.batch_alter_table("events", recreate="always", copy_from=events):
            pass
    op.create_index("ix_uploads_actor_key", "uploads", ["actor", "idempotency_key"], unique=True)
    op.create_index("ix_events_member", "events", ["member_id", "time_ns"])
    # Event flags and their reviews: <event_id>.<CODE>… becomes <event_id>@<member_id>.<CODE>…
    renamed = bind.execute(sa.text("SELECT flag_id, event_id, member_id FROM flags WHERE event_id IS NOT NULL")).all()
    for old, event_id, member_id in renamed:
        if not old.startswith(event_id + "."):
            continue
        new = f"{event_id}@{member_id}{old[len(event_id) :]}"
        bind.execute(sa.text("UPDATE flags SET flag_id = :new WHERE flag_id = :old"), {"new": new, "old": old})
        bind.execute(sa.text("UPDATE reviews SET flag_id = :new WHERE flag_id = :old"), {"new": new, "old": old})


def downgrade() -> None:
    # Two members' events may now share an id and two uploaders an Idempotency-Key: the old keys
    # cannot hold them. Going back means restoring the backup taken before the upgrade.
    raise StoreError(
        "revision 0004 cannot be undone in place: restore the database backup taken before `geoverify db upgrade`"
    )
