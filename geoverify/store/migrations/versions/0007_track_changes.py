"""The log of day-track changes (issue #12): workers compare for two phones outside the writer lock.

- ``track_changes`` (``seq``, ``member_id``, ``date``): one row per change of a stored day track,
  numbered under the writer lock. A worker compares a member-day with other members' tracks on
  its read snapshot; under the lock it reads only the changes since that snapshot and compares
  again when one of them is a neighbour of its member-day.

On PostgreSQL the text columns get the ``"C"`` collation, as in revision 0002.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_changes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for column, kind in (("member_id", "varchar(100)"), ("date", "varchar(10)")):
            op.execute(f'ALTER TABLE track_changes ALTER COLUMN "{column}" TYPE {kind} COLLATE "C"')


def downgrade() -> None:
    op.drop_table("track_changes")
