"""The credit ledger: append-only grants and reversals (spec "Ledger").

A day's credit enters the ledger once the day has settled (:meth:`Store.settled`: by default the
next local day at 02:00); until then a patrol shows its provisional credit only. A settled patrol
that earns points has one live grant. After settlement, :func:`sync_patrol` appends a reversal of
the live grant and a new grant only when the credit's status or points change (late fixes, a
review, a rule change); a change of ``verified_s`` alone appends nothing, and a patrol that earns
0 points has no grant. :func:`settle_days` writes the grants of days that have settled. Rows are
only ever inserted. ``seq`` is assigned inside the store's writer transaction (:meth:`Store.write`),
so entries become visible in seq order.

Each entry is recorded in the audit log (``credit.grant`` / ``credit.reversal``, the entry as its
detail) in the same transaction, and the row keeps that audit entry's seq and hash (``chain_seq``,
``chain_hash``): the feed carries them, so that a scorer can tell later whether what it already
pulled was rewritten; ``geoverify audit verify`` checks every row against its audit entry.

The feed (:func:`page_json`) is serialised by the database itself (SQLite's ``json_object``,
PostgreSQL's ``json_build_object``) and, since entries never change, the JSON of entries already
served is kept in an :class:`EntryCache`: a 1,000-entry page costs one query and one string join
instead of building and serialising 1,000 Python dicts.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Numeric,
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
)

from geoverify.store import audit
from geoverify.store.clock import utc_now_text
from geoverify.store.schema import audit_log, ledger, patrols

ENTRY_FIELDS = (
    "credit_id",
    "seq",
    "kind",
    "reverses",
    "patrol_id",
    "member_id",
    "grid_id",
    "date",
    "points",
    "verified_s",
    "rule_version",
    "created_at",
)
#: What the feed and the export show of an entry: its fields and its audit entry's seq and hash.
FEED_FIELDS = ENTRY_FIELDS + ("chain_seq", "chain_hash")


def number(value: float) -> int | float:
    """Points as JSON shows them: whole numbers as integers."""
    return int(value) if float(value).is_integer() else float(value)


def entry_dict(row, fields: tuple[str, ...] = ENTRY_FIELDS) -> dict:
    """A ledger row as its audit entry holds it (``fields`` :data:`FEED_FIELDS`: as the feed shows it)."""
    out = {k: row._mapping[k] for k in fields}
    out["points"] = number(out["points"])
    out["verified_s"] = round(float(out["verified_s"]), 3)
    return out


def live_grant(conn: Connection, patrol_id: str):
    """The patrol's unreversed grant (a row), or None."""
    last = conn.execute(
        select(ledger).where(ledger.c.patrol_id == patrol_id).order_by(ledger.c.seq.desc()).limit(1)
    ).first()
    return last if last is not None and last.kind == "grant" else None


def _append(conn: Connection, actor: str, **values) -> dict:
    """Record the entry in the audit log, then store it with that audit entry's seq and hash."""
    seq = int(conn.execute(select(func.coalesce(func.max(ledger.c.seq), 0))).scalar_one()) + 1
    values.update(seq=seq, credit_id=f"cr_{uuid.uuid4().hex[:20]}", created_at=utc_now_text())
    entry = {k: values[k] for k in ENTRY_FIELDS}
    entry["points"] = number(float(entry["points"]))
    entry["verified_s"] = round(float(entry["verified_s"]), 3)
    recorded = audit.append(conn, actor, f"credit.{values['kind']}", "credit", entry["credit_id"], entry)
    conn.execute(insert(ledger).values(**values, chain_seq=recorded["seq"], chain_hash=recorded["hash"]))
    return {**entry, "chain_seq": recorded["seq"], "chain_hash": recorded["hash"]}


def sync_patrol(conn: Connection, patrol: dict, actor: str = "system", *, settled: bool = True) -> list[dict]:
    """Bring the ledger in line with a patrol's current credit; returns the appended entries.

    Parameters
    ----------
    patrol : dict
        ``patrol_id, member_id, grid_id, date`` (ISO), ``verified_s`` (seconds),
        ``rule_version`` and ``credit`` ``{"status", "points"}``.
    settled : bool
        Whether the patrol's day has settled; before that nothing is appended.
    """
    if not settled:
        return []
    live = live_grant(conn, patrol["patrol_id"])
    points = float(patrol["credit"]["points"])
    wanted = points if patrol["credit"]["status"] == "verified" and points != 0 else None
    if (None if live is None else float(live.points)) == wanted:
        return []
    appended = []
    if live is not None:
        appended.append(
            _append(
                conn,
                actor,
                kind="reversal",
                reverses=live.credit_id,
                patrol_id=live.patrol_id,
                member_id=live.member_id,
                grid_id=live.grid_id,
                date=live.date,
                points=-float(live.points),
                verified_s=float(live.verified_s),
                rule_version=live.rule_version,
            )
        )
    if wanted is not None:
        appended.append(
            _append(
                conn,
                actor,
                kind="grant",
                reverses=None,
                patrol_id=patrol["patrol_id"],
                member_id=patrol["member_id"],
                grid_id=patrol["grid_id"],
                date=patrol["date"],
                points=wanted,
                verified_s=round(float(patrol["verified_s"]), 3),
                rule_version=patrol["rule_version"],
            )
        )
    return appended


def last_settled(conn: Connection) -> str | None:
    """The latest local date (ISO) whose credit :func:`settle_days` has written, or None."""
    return conn.execute(
        select(func.max(audit_log.c.object_id)).where(audit_log.c.action == "ledger.settled")
    ).scalar_one()


def due_dates(conn: Connection, is_settled, after: str) -> list[str]:
    """Stored patrol dates (ISO, ascending) after ``after`` (an ISO date, or "" for all) whose day
    ``is_settled``."""
    out: list[str] = []
    while True:  # one indexed look-up per date (ix_patrols_date), never a scan of a day's patrols
        date = conn.execute(select(func.min(patrols.c.date)).where(patrols.c.date > after)).scalar()
        if date is None or not is_settled(date):
            return out  # later dates settle later
        out.append(date)
        after = date


def settle_days(conn: Connection, days: list[str], actor: str = "system") -> list[dict]:
    """Write the ledger entries of the stored patrols of settled ``days`` (ISO dates, ascending).

    Each day is recorded in the audit log (``ledger.settled``, the date, how many patrols and
    entries), so that :func:`last_settled` knows it. Returns the entries appended.
    """
    appended: list[dict] = []
    for date in days:
        rows = conn.execute(
            select(
                patrols.c.patrol_id,
                patrols.c.member_id,
                patrols.c.grid_id,
                patrols.c.date,
                patrols.c.verified_s,
                patrols.c.rule_version,
                patrols.c.credit_status,
                patrols.c.points,
            )
            .where(patrols.c.date == date)
            .order_by(patrols.c.patrol_id)
        )
        day, count = [], 0
        for row in rows:
            count += 1
            day += sync_patrol(
                conn,
                {
                    "patrol_id": row.patrol_id,
                    "member_id": row.member_id,
                    "grid_id": row.grid_id,
                    "date": row.date,
                    "verified_s": row.verified_s,
                    "rule_version": row.rule_version,
                    "credit": {"status": row.credit_status, "points": row.points},
                },
                actor,
            )
        audit.append(conn, actor, "ledger.settled", "day", date, {"patrols": count, "entries": len(day)})
        appended += day
    return appended


def page(conn: Connection, after: int = 0, limit: int = 100, *, patrol_id: str | None = None) -> dict:
    """Entries with ``seq > after`` in seq order: ``{"entries": [...], "next": seq to pass as after}``.

    ``next`` is the last returned seq (``after`` itself when nothing is new), so a scorer that
    stores it and asks again sees every entry exactly once.
    """
    query = select(ledger).where(ledger.c.seq > after)
    if patrol_id is not None:
        query = query.where(ledger.c.patrol_id == patrol_id)
    rows = conn.execute(query.order_by(ledger.c.seq).limit(limit)).all()
    entries = [entry_dict(r, FEED_FIELDS) for r in rows]
    return {"entries": entries, "next": entries[-1]["seq"] if entries else after}


def _entry_columns(dialect: str) -> list:
    """``key, value`` pairs of :data:`FEED_FIELDS` as SQL expressions, formatted as :func:`entry_dict` does."""
    pairs: list[Any] = []
    for name in FEED_FIELDS:
        column: Any = ledger.c[name]  # then an expression of it
        if name == "points":  # whole numbers as integers, as number() does
            column = case((column == cast(column, Integer), cast(column, Integer)), else_=column)
        elif name == "verified_s":
            column = (
                func.round(column, 3)
                if dialect == "sqlite"
                else cast(func.round(cast(column, Numeric), 3), column.type)
            )
        pairs.extend((literal(name), column))
    return pairs


@functools.cache
def _rows_statement(dialect: str):
    """``seq, identity, entry`` (the entry as JSON text built by the database) of a page."""
    build = func.json_object if dialect == "sqlite" else func.json_build_object
    return (
        select(ledger.c.seq, _identity(ledger), cast(build(*_entry_columns(dialect)), Text).label("entry"))
        .where(ledger.c.seq > bindparam("after", type_=BigInteger))
        .order_by(ledger.c.seq)
        .limit(bindparam("limit", type_=Integer))
    )


def _identity(table):
    """What tells a cached entry from another under the same seq (a restored backup, a rewritten
    chain): its credit_id and chain hash, as one text."""
    return (table.c.credit_id + literal(" ") + func.coalesce(table.c.chain_hash, literal(""))).label("identity")


@functools.cache
def _span_statement():
    """How many entries lie in ``(after, after + limit]``, the last one's seq and identity, and the top seq."""
    span = (
        select(func.count().label("n"), func.max(ledger.c.seq).label("last"))
        .where(
            ledger.c.seq > bindparam("after", type_=BigInteger), ledger.c.seq <= bindparam("upper", type_=BigInteger)
        )
        .subquery()
    )
    other = ledger.alias("other")
    return select(
        span.c.n,
        span.c.last,
        select(_identity(other)).where(other.c.seq == span.c.last).scalar_subquery(),
        select(func.max(other.c.seq)).scalar_subquery(),
    )


class EntryCache:
    """Ledger entries already serialised, by seq, for :func:`page_json` (thread-safe, bounded).

    A committed entry never changes, so its JSON text can be kept. Each entry's identity (its
    ``credit_id`` and ``chain_hash``) is kept too: when the database holds another entry under a
    cached seq (a restored backup, a rewritten chain), the cache empties itself. Past ``max_entries`` the
    oldest cached entries are dropped (scorers read the newest ones). Use it only with read transactions: an
    entry seen inside a writer's open transaction could still be rolled back.
    """

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self._entries: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def run(self, first: int, last: int, last_identity: str) -> list[str] | None:
        """The entries ``first..last`` as JSON texts, or None unless all are cached (and the cached
        entry ``last`` has ``last_identity``)."""
        with self._lock:
            cached = self._entries.get(last)
            if cached is not None and cached[0] != last_identity:
                self._entries.clear()
                return None
            try:
                return [self._entries[seq][1] for seq in range(first, last + 1)]
            except KeyError:
                return None

    def put(self, rows) -> None:
        """Keep ``(seq, identity, entry JSON)`` rows."""
        with self._lock:
            for seq, identity, text in rows:
                cached = self._entries.get(seq)
                if cached is not None and cached[0] != identity:
                    self._entries.clear()
                self._entries[seq] = (identity, text)
            excess = len(self._entries) - self.max_entries
            if excess > 0:
                for seq in list(itertools.islice(self._entries, excess + self.max_entries // 10)):
                    del self._entries[seq]


def _page_text(entries: list[str], next_seq: int) -> str:
    return f'{{"entries":[{",".join(entries)}],"next":{int(next_seq)}}}'


def page_json(conn: Connection, after: int = 0, limit: int = 100, cache: EntryCache | None = None) -> str:
    """The same page as :func:`page`, already serialised: ``{"entries": [...], "next": n}`` as JSON text.

    The database serialises each entry (SQLite ``json_object``, PostgreSQL ``json_build_object``);
    other databases fall back to :func:`page`. With a ``cache``, a page whose entries are all
    cached costs one indexed count instead (which also checks that the page's seqs have no holes).

    Parameters
    ----------
    conn : Connection
        A read transaction (:meth:`Store.read`).
    after : int
        The last seq the caller has seen (0 to start).
    limit : int
        Page size (entries).
    cache : EntryCache, optional
        Entries serialised earlier by this process.
    """
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return json.dumps(page(conn, after, limit), ensure_ascii=False)
    after, limit = int(after), int(limit)
    if cache is not None:
        n, last, last_identity, top = conn.execute(_span_statement(), {"after": after, "upper": after + limit}).one()
        if not n:
            if top is None or top <= after:
                return _page_text([], after)
        elif last - after == n and (n == limit or last == top):  # exactly the seqs after+1..last
            texts = cache.run(after + 1, last, last_identity)
            if texts is not None:
                return _page_text(texts, last)
    rows = conn.execute(_rows_statement(dialect), {"after": after, "limit": limit}).all()
    if cache is not None:
        cache.put(rows)
    return _page_text([row.entry for row in rows], rows[-1].seq if rows else after)


def balance(conn: Connection, patrol_id: str) -> float:
    """Sum of the patrol's entries: its points as the scorer should count them."""
    return float(
        conn.execute(
            select(func.coalesce(func.sum(ledger.c.points), 0.0)).where(ledger.c.patrol_id == patrol_id)
        ).scalar_one()
    )
