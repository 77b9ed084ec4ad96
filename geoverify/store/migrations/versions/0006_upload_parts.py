"""Track uploads stored in parts (issue #12).

- ``uploads.state``: ``storing`` while the parts of an upload are being stored (each in its own
  short writer transaction), ``discarding`` while the parts of a dead one are deleted, ``stored``
  once complete; every reader of fixes ignores the fixes of an upload that is not ``stored``.
  Existing uploads are ``stored``;
- ``uploads.storing_by`` (host:pid:random of the process storing it) and
  ``uploads.storing_until_ns`` (the end of its lease, renewed by every part): how a dead upload
  is recognised;
- ``ix_uploads_state`` and ``ix_fixes_upload`` (the fixes of an upload, to delete a dead one's).

On PostgreSQL the new text columns get the ``"C"`` collation, as in revision 0002.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TEXT_COLUMNS = (("uploads", "state", "varchar(10)"), ("uploads", "storing_by", "varchar(100)"))


def upgrade() -> None:
    op.add_column("uploads", sa.Column("state", sa.String(10), nullable=False, server_default="stored"))
    op.add_column("uploads", sa.Column("storing_by", sa.String(100)))
    op.add_column("uploads", sa.Column("storing_until_ns", sa.BigInteger))
    op.create_index("ix_uploads_state", "uploads", ["state"])
    op.create_index("ix_fixes_upload", "fixes", ["upload_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table, column, kind in TEXT_COLUMNS:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {kind} COLLATE "C"')


def downgrade() -> None:
    op.drop_index("ix_fixes_upload", "fixes")
    op.drop_index("ix_uploads_state", "uploads")
    with op.batch_alter_table("uploads") as batch:
        for column in ("storing_until_ns", "storing_by", "state"):
            batch.drop_column(column)
