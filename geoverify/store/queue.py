"""The verification work queue: member-days whose stored result is pending.

An upload commits its fixes and enqueues the member-days they touch, in one writer transaction
(a big track upload: in its last part's); workers claim member-days, verify them outside the
writer lock and write the results back (see
:mod:`geoverify.store.worker`). A claim is a lease (``lease_s``): a worker that dies leaves it to
expire and the member-day is claimed again, so a crash loses nothing. On PostgreSQL claims use
``SELECT … FOR UPDATE SKIP LOCKED``, so workers on several machines never wait for one another;
on SQLite a claim is a short writer transaction (SQLite has one writer at a time anyway).

Every enqueue raises the row's ``generation``. A worker writes its result only when the row
still holds the generation it claimed: a result computed before newer input arrived is never
stored, and the row stays pending for the next claim.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, tuple_, update

from geoverify.store.db import Store
from geoverify.store.schema import work

Key = tuple[str, dt.date]


@dataclass(frozen=True)
class Claim:
    """A member-day a worker has claimed, at the generation it will verify."""

    member_id: str
    date: dt.date
    generation: int

    @property
    def key(self) -> Key:
        return (self.member_id, self.date)


def now_ns() -> int:
    """Wall-clock UTC nanoseconds (queue bookkeeping: leases, time waiting)."""
    return time.time_ns()


def _upsert(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # the same insert() for SQLite
    statement = insert(work)
    return statement.on_conflict_do_update(
        index_elements=[work.c.member_id, work.c.date], set_={"generation": work.c.generation + 1}
    )


def enqueue(conn: Connection, keys: Iterable[Key]) -> int:
    """Mark member-days pending (inside the caller's writer transaction); returns how many.

    A member-day already pending gets a new generation and keeps its place in the queue.
    """
    rows = [
        {
            "member_id": m,
            "date": d.isoformat(),
            "generation": 1,
            "enqueued_ns": now_ns(),
            "claimed_by": None,
            "claimed_until_ns": None,
            "attempts": 0,
        }
        for m, d in sorted(set(keys))
    ]
    if rows:
        conn.execute(_upsert(conn), rows)
    return len(rows)


def claim(
    store: Store, worker: str, *, limit: int = 64, lease_s: float = 120.0, keys: Iterable[Key] | None = None
) -> list[Claim]:
    """Claim up to ``limit`` pending member-days (oldest first) for ``lease_s`` seconds.

    Parameters
    ----------
    worker : str
        Recorded in ``claimed_by``; results are written only by the claim's holder.
    keys : iterable of (member_id, date), optional
        Claim only these (an upload waiting for its own member-days).
    """
    now = now_ns()
    query = (
        select(work.c.member_id, work.c.date, work.c.generation)
        .where(or_(work.c.claimed_until_ns.is_(None), work.c.claimed_until_ns < now))
        .order_by(work.c.enqueued_ns, work.c.member_id, work.c.date)
        .limit(limit)
    )
    if keys is not None:
        wanted = [(m, d.isoformat()) for m, d in set(keys)]
        if not wanted:
            return []
        query = query.where(tuple_(work.c.member_id, work.c.date).in_(wanted))
    until = now + int(lease_s * 1e9)
    if store.engine.dialect.name == "postgresql":
        # One statement: the rows no other worker holds locked, claimed and returned.
        chosen = query.with_for_update(skip_locked=True).subquery()
        with store.engine.begin() as conn:
            claimed = conn.execute(
                update(work)
                .where(tuple_(work.c.member_id, work.c.date).in_(select(chosen.c.member_id, chosen.c.date)))
                .values(claimed_by=worker, claimed_until_ns=until, attempts=work.c.attempts + 1)
                .returning(work.c.member_id, work.c.date, work.c.generation, work.c.enqueued_ns)
            ).all()
        in_order = sorted(claimed, key=lambda r: (r.enqueued_ns, r.member_id, r.date))
        return [Claim(r.member_id, dt.date.fromisoformat(r.date), int(r.generation)) for r in in_order]
    with store.write() as conn:
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(work)
                .where(and_(work.c.member_id == bindparam("m"), work.c.date == bindparam("d")))
                .values(claimed_by=worker, claimed_until_ns=until, attempts=work.c.attempts + 1),
                [{"m": r.member_id, "d": r.date} for r in rows],
            )
    return [Claim(r.member_id, dt.date.fromisoformat(r.date), int(r.generation)) for r in rows]


def still_mine(conn: Connection, claims: Iterable[Claim], worker: str) -> list[Claim]:
    """The claims whose rows still hold the claimed generation under ``worker``'s claim."""
    claims = list(claims)
    if not claims:
        return []
    rows = conn.execute(
        select(work.c.member_id, work.c.date, work.c.generation, work.c.claimed_by).where(
            tuple_(work.c.member_id, work.c.date).in_([(c.member_id, c.date.isoformat()) for c in claims])
        )
    ).all()
    current = {(r.member_id, r.date): (r.generation, r.claimed_by) for r in rows}
    return [c for c in claims if current.get((c.member_id, c.date.isoformat())) == (c.generation, worker)]


def finish(conn: Connection, worker: str, done: Iterable[Claim], released: Iterable[Claim] = ()) -> None:
    """Remove the rows of verified claims; release ``worker``'s other claims for the next claim
    (their rows got a newer generation meanwhile, possibly in this very transaction)."""
    done = list(done)
    if done:
        conn.execute(
            delete(work).where(
                work.c.member_id == bindparam("m"), work.c.date == bindparam("d"), work.c.generation == bindparam("g")
            ),
            [{"m": c.member_id, "d": c.date.isoformat(), "g": c.generation} for c in done],
        )
    claims = [*done, *released]
    if claims:
        conn.execute(
            update(work)
            .where(work.c.member_id == bindparam("m"), work.c.date == bindparam("d"), work.c.claimed_by == worker)
            .values(claimed_by=None, claimed_until_ns=None),
            [{"m": c.member_id, "d": c.date.isoformat()} for c in claims],
        )


def back_off(store: Store, claims: Iterable[Claim], delay_s: float) -> None:
    """Leave failed claims claimed for ``delay_s`` more seconds (retried after that, never dropped)."""
    claims = list(claims)
    if not claims:
        return
    with store.write() as conn:
        for c in claims:
            conn.execute(
                update(work)
                .where(work.c.member_id == c.member_id, work.c.date == c.date.isoformat())
                .values(claimed_until_ns=now_ns() + int(delay_s * 1e9))
            )


def remove(conn: Connection, keys: Iterable[Key]) -> None:
    """Remove member-days from the queue (verified in the caller's writer transaction)."""
    for m, d in set(keys):
        conn.execute(delete(work).where(work.c.member_id == m, work.c.date == d.isoformat()))


def pending(conn: Connection, keys: Iterable[Key]) -> dict[Key, int]:
    """Of ``keys``, those pending → UTC nanoseconds since when."""
    wanted = [(m, d.isoformat()) for m, d in set(keys)]
    if not wanted:
        return {}
    out = {}
    for chunk in range(0, len(wanted), 500):
        for r in conn.execute(
            select(work.c.member_id, work.c.date, work.c.enqueued_ns).where(
                tuple_(work.c.member_id, work.c.date).in_(wanted[chunk : chunk + 500])
            )
        ):
            out[(r.member_id, dt.date.fromisoformat(r.date))] = int(r.enqueued_ns)
    return out


def status(conn: Connection) -> dict:
    """``pending`` member-days, how many are ``claimed`` now, ``oldest_s`` waiting, ``retried``."""
    now = now_ns()
    total, oldest = conn.execute(select(func.count(), func.min(work.c.enqueued_ns))).one()
    claimed = conn.execute(select(func.count()).where(work.c.claimed_until_ns >= now)).scalar_one()
    retried = conn.execute(select(func.count()).where(work.c.attempts > 1)).scalar_one()
    return {
        "pending": int(total),
        "claimed": int(claimed),
        "retried": int(retried),
        "oldest_s": round((now - oldest) / 1e9, 3) if oldest is not None else None,
    }


def release_orphans(store: Store, host: str, alive: Callable[[int], bool]) -> int:
    """Release claims of workers on ``host`` whose process is gone (a crash, a kill), at once rather
    than when their lease ends; returns how many. Claims of other machines wait for their lease."""
    with store.write() as conn:
        rows = conn.execute(
            select(work.c.member_id, work.c.date, work.c.claimed_by).where(work.c.claimed_by.like(f"{host}:%"))
        ).all()
        orphans = []
        for r in rows:
            pid = r.claimed_by.split(":")[1] if r.claimed_by.count(":") >= 2 else ""
            if pid.isdigit() and not alive(int(pid)):
                orphans.append(r)
        for r in orphans:
            conn.execute(
                update(work)
                .where(work.c.member_id == r.member_id, work.c.date == r.date)
                .values(claimed_by=None, claimed_until_ns=None)
            )
    return len(orphans)
