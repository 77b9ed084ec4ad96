"""The store's writer lock on PostgreSQL: its key, and taking it late in a transaction.

:meth:`geoverify.store.db.Store.write` takes it first thing, or, with ``lock_late``, when
:func:`take_writer_lock` is called (the audit log does before every entry) and at the latest before
the commit. Apart from :mod:`geoverify.store.db` so that the audit log can take it without
importing the store.
"""

from __future__ import annotations

from sqlalchemy import Connection

# Key of the PostgreSQL advisory lock that serialises writers ("geoverif" in ASCII).
PG_WRITER_LOCK = 0x67656F7665726966
#: ``Connection.info`` key: a writer transaction opened with ``lock_late`` that has not taken the lock yet
LOCK_PENDING = "geoverify.writer_lock_pending"
#: SQLSTATEs of a late-locked writer that met another writer's uncommitted row: unique violation,
#: deadlock detected (PostgreSQL breaks the cycle; the transaction is tried again)
CONFLICT_STATES = frozenset({"23505", "40P01"})


def take_writer_lock(conn: Connection) -> None:
    """Take the writer lock now in a transaction of ``Store.write(lock_late=True)`` (nothing when it
    holds the lock already, or when the transaction took it first thing)."""
    if conn.info.pop(LOCK_PENDING, None):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITER_LOCK})")


def is_write_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a late-locked writer meeting another writer's row (a unique key it
    inserted first, or a deadlock PostgreSQL broke): try the transaction again."""
    driver_error = getattr(error, "orig", None) or error  # SQLAlchemy wraps it; COPY raises psycopg's own
    return getattr(driver_error, "sqlstate", None) in CONFLICT_STATES
