"""Tamper evidence and token lifetimes (issue #13).

- ``audit_checkpoints``: signed checkpoints of the audit chain's head (seq, hash, time, key id,
  Ed25519 signature); the store writes one per writer transaction that appended to the log while
  ``GEOVERIFY_AUDIT_KEY`` names a key;
- ``ledger.chain_seq`` / ``ledger.chain_hash``: each ledger entry's audit-log entry, as the credit
  feed shows it. Existing entries get theirs from the log here (the ``credit.*`` entry whose
  object is the credit id); an entry without one keeps nulls, which ``geoverify audit verify``
  reports;
- ``tokens.expires_at`` (null: never), ``tokens.previous_sha256`` / ``previous_until`` (the
  secret replaced by ``geoverify token rotate`` and the end of its grace period).

On PostgreSQL the new text columns get the ``"C"`` collation, as in revision 0002.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXT_COLUMNS = (
    ("audit_checkpoints", "hash", "varchar(64)"),
    ("audit_checkpoints", "at", "varchar(40)"),
    ("audit_checkpoints", "key_id", "varchar(16)"),
    ("audit_checkpoints", "signature", "varchar(100)"),
    ("ledger", "chain_hash", "varchar(64)"),
    ("tokens", "expires_at", "varchar(40)"),
    ("tokens", "previous_sha256", "varchar(64)"),
    ("tokens", "previous_until", "varchar(40)"),
)


def _fill_chain_columns(bind) -> None:
    """Copy each ledger entry's audit seq and hash from its ``credit.*`` audit entry (streamed in seq
    order, one UPDATE per entry by its unique credit id)."""
    entries = bind.execute(
        sa.text(
            "SELECT seq, hash, object_id FROM audit_log WHERE action IN ('credit.grant', 'credit.reversal') "
            "ORDER BY seq"
        )
    ).all()
    if entries:
        bind.execute(
            sa.text("UPDATE ledger SET chain_seq = :seq, chain_hash = :hash WHERE credit_id = :credit_id"),
            [{"seq": seq, "hash": digest, "credit_id": credit_id} for seq, digest, credit_id in entries],
        )


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
    )
    op.add_column("ledger", sa.Column("chain_seq", sa.BigInteger))
    op.add_column("ledger", sa.Column("chain_hash", sa.String(64)))
    op.add_column("tokens", sa.Column("expires_at", sa.String(40)))
    op.add_column("tokens", sa.Column("previous_sha256", sa.String(64)))
    op.add_column("tokens", sa.Column("previous_until", sa.String(40)))
    op.create_index("ix_tokens_previous", "tokens", ["previous_sha256"], unique=True)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, column, kind in TEXT_COLUMNS:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {kind} COLLATE "C"')
    _fill_chain_columns(bind)


def downgrade() -> None:
    op.drop_index("ix_tokens_previous", "tokens")
    with op.batch_alter_table("tokens") as batch:
        for column in ("previous_until", "previous_sha256", "expires_at"):
            batch.drop_column(column)
    with op.batch_alter_table("ledger") as batch:
        for column in ("chain_hash", "chain_seq"):
            batch.drop_column(column)
    op.drop_table("audit_checkpoints")
