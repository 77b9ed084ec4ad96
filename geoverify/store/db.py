"""Opening the store: the engine, schema migrations, and the one writer transaction.

Every change to the store runs inside :meth:`Store.write`, which serialises writers: on SQLite
a ``BEGIN IMMEDIATE`` transaction (one writer at a time, readers go on in WAL mode), on
PostgreSQL a transaction-scoped advisory lock taken first thing in a READ COMMITTED transaction
(so every later statement sees what the previous writer committed). A small track upload on
PostgreSQL takes it late (``lock_late``): its fixes are inserted beside other writers, and only its
queueing and audit entry wait for the lock. Ledger and audit sequence numbers are assigned inside
it, so no lower ``seq`` can become visible after a higher one.
:meth:`Store.read` is one snapshot on both (WAL on SQLite, REPEATABLE READ on PostgreSQL).

URLs: ``sqlite:///path.db`` or ``postgresql://user:password@host:port/database`` (the psycopg 3
driver is used whatever the URL names).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from geoverify.errors import StoreError
from geoverify.rules import RuleSet, load_rules
from geoverify.settings import (
    configured_audit_key_path,
    configured_database_url,
    configured_rules_path,
    configured_settle_after_s,
    configured_tz,
    configured_upload_part_fixes,
)
from geoverify.store.audit import AUDIT_APPENDED
from geoverify.store.writer_lock import LOCK_PENDING, PG_WRITER_LOCK, take_writer_lock

if TYPE_CHECKING:
    from geoverify.store.checkpoints import AuditKey

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: What the database raises when it cannot answer now (locked past the busy timeout, connection
#: refused, disk full): the service answers 503 with Retry-After rather than 500.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError,)


def normalise_url(url: str) -> str:
    """``url`` with PostgreSQL spelled for the psycopg 3 driver (``postgresql+psycopg://``)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGIN."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is DEFERRED only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url not in ("sqlite://", "sqlite:///:memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit (an upload, a ledger entry) survives a power cut, not only a process kill.
        cursor.execute("PRAGMA synchronous=FULL")
        # 64 MiB of page cache (default 2 MiB): bulk loads keep the fixes' indexes in memory
        # instead of re-reading B-tree pages (a 1 M-fix load is several times faster).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the schema migrations up to ``revision``; existing data is kept."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw: Any = connection.connection.dbapi_connection  # sqlite3's or psycopg's connection
        if sqlite:
            # SQLite rebuilds a table to change its keys; with foreign keys on, dropping the old table
            # would fail (or cascade). They are off for the migration (outside any transaction, where
            # SQLite honours the pragma) and checked as a whole before they are on again.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
            if sqlite:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(
                        f"after the schema upgrade, {len(broken)} rows refer to rows that do not "
                        f"exist (first: table {broken[0][0]!r}, row {broken[0][1]}); restore the "
                        "backup taken before the upgrade and report this"
                    )
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.lru_cache(maxsize=4096)
def _settles_at(date: str, tz: str, settle_after_s: float) -> pd.Timestamp:
    """When the credit of local ``date`` settles: local midnight of the next day, then
    ``settle_after_s`` seconds of wall-clock time."""
    day = pd.Timestamp(date).tz_localize(tz) + pd.Timedelta(days=1)
    return day.normalize() + pd.Timedelta(seconds=settle_after_s)


class FairLock:
    """A lock taken in the order it was asked for (first come, first served).

    Writers of one process queue here before the database's own writer lock. SQLite's busy
    handler retries after growing sleeps, so a worker that commits and at once begins its next
    transaction would win again and again, and a review or a small upload could wait many seconds
    behind a long run of short transactions; in turn, each waits at most for the writers ahead of it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> FairLock:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


@dataclass
class Store:
    """A geoverify store: the database plus the settings verification needs.

    Attributes
    ----------
    engine : sqlalchemy.Engine
    tz : str
        IANA zone of local dates and output offsets.
    rules : RuleSet
    now : callable
        Returns the verification time (UTC ``pandas.Timestamp``); the wall clock by default.
    max_fixes_per_upload : int
        Larger track uploads are refused whole.
    upload_part_budget_s : float
        How long one part of a track upload should hold the writer lock (seconds); a track upload
        is stored in parts of as many fixes as fit, visible together once the last part commits
        (:mod:`geoverify.store.track_upload`).
    upload_part_fixes : int or None
        Fixes per part instead of the budget (``$GEOVERIFY_UPLOAD_PART_FIXES``); None: the budget.
    settle_after_s : float
        A day's credit settles this many seconds after the next local midnight (default 7200,
        02:00; ``$GEOVERIFY_SETTLE_AT``).
    audit_key : geoverify.store.checkpoints.AuditKey or None
        Signs a checkpoint of the audit chain's head at the end of every writer transaction that
        appended to the log (``$GEOVERIFY_AUDIT_KEY``); None: no checkpoints.
    """

    engine: Engine
    tz: str = field(default_factory=configured_tz)
    rules: RuleSet = field(default_factory=RuleSet)
    now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC")
    max_fixes_per_upload: int = 500_000
    upload_part_budget_s: float = 0.2
    upload_part_fixes: int | None = field(default_factory=configured_upload_part_fixes)
    settle_after_s: float = field(default_factory=configured_settle_after_s)
    #: the last local date (ISO) whose credit was settled, as this process last saw it ("" none)
    settled_through: str | None = field(default=None, repr=False)
    #: set after an upload queues work, to wake this process's worker threads at once
    wake: threading.Event | None = field(default=None, repr=False)
    #: what verification keeps between batches in this process (the grids, keyed by their state)
    cache: dict = field(default_factory=dict, repr=False)
    audit_key: AuditKey | None = field(default=None, repr=False)
    #: this process's writers, served in turn before the database's writer lock
    write_turns: FairLock = field(default_factory=FairLock, repr=False)

    def settled(self, date: dt.date | str) -> bool:
        """Whether the credit of local ``date`` has settled (spec "Ledger")."""
        return self.now() >= _settles_at(str(date), self.tz, self.settle_after_s)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        tz: str | None = None,
        rules_path: str | None = None,
        now: pd.Timestamp | str | None = None,
        migrate: bool = True,
        audit_key: str | None = None,
        **kwargs,
    ) -> Store:
        """Open (and by default create or upgrade) the store at ``url``.

        Parameters
        ----------
        url : str, optional
            SQLAlchemy URL; default :func:`configured_database_url`.
        tz : str, optional
            Default ``$GEOVERIFY_TZ`` or Asia/Shanghai.
        rules_path : str, optional
            Rules TOML; default ``$GEOVERIFY_RULES`` or the built-in rules.
        now : timestamp, optional
            A fixed verification time (for replaying old data); the wall clock when omitted.
        audit_key : str, optional
            The audit key file that signs checkpoints; default ``$GEOVERIFY_AUDIT_KEY``; ``""``
            for none.

        Raises
        ------
        geoverify.store.checkpoints.AuditKeyError
            When the audit key file is missing, not an Ed25519 private key, or readable by others.
        """
        key_path = configured_audit_key_path() if audit_key is None else (audit_key or None)
        signer = None
        if key_path is not None:
            from geoverify.store.checkpoints import load_private_key

            signer = load_private_key(key_path)
        engine = make_engine(url or configured_database_url())
        if migrate:
            upgrade(engine)
        fixed = None if now is None else pd.Timestamp(now)
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.tz_localize(tz or configured_tz())
        clock = (lambda: fixed.tz_convert("UTC")) if fixed is not None else (lambda: pd.Timestamp.now(tz="UTC"))
        return cls(
            engine=engine,
            tz=tz or configured_tz(),
            rules=load_rules(rules_path if rules_path is not None else configured_rules_path()),
            now=clock,
            audit_key=signer,
            **kwargs,
        )

    @contextmanager
    def write(self, *, lock_late: bool = False) -> Iterator[Connection]:
        """A transaction that holds the store's single writer lock until it commits.

        When it appended to the audit log and an :attr:`audit_key` is set, it ends by signing a
        checkpoint of the new head (:func:`geoverify.store.checkpoints.make`), in the same transaction.

        Parameters
        ----------
        lock_late : bool
            On PostgreSQL, take the writer lock only when :func:`take_writer_lock` is called (or
            the audit log is appended to), and at the latest before the commit, not first thing:
            the statements before it run beside other writers. For work whose early statements
            cannot conflict with theirs but by a unique key (a track upload's fixes), whose caller
            retries on :func:`is_write_conflict`. The writers of this process do not take turns
            for it. Ignored on SQLite, where the transaction is one writer from its start.
        """
        if self.engine.dialect.name == "sqlite":
            with self.write_turns, self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
                with conn.begin():
                    conn.info.pop(AUDIT_APPENDED, None)
                    yield conn
                    self._checkpoint(conn)
        elif lock_late and self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.info.pop(AUDIT_APPENDED, None)
                conn.info[LOCK_PENDING] = True
                try:
                    yield conn
                    take_writer_lock(conn)
                    self._checkpoint(conn)
                finally:
                    conn.info.pop(LOCK_PENDING, None)
        else:
            with self.write_turns, self.engine.begin() as conn:
                conn.info.pop(AUDIT_APPENDED, None)
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITER_LOCK})")
                yield conn
                self._checkpoint(conn)

    def _checkpoint(self, conn: Connection) -> None:
        head = conn.info.pop(AUDIT_APPENDED, None)
        if head is not None and self.audit_key is not None:
            from geoverify.store.checkpoints import make

            make(conn, self.audit_key, head)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot (WAL on SQLite, REPEATABLE READ on PostgreSQL)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
