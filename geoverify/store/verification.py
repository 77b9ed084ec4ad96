"""Verification of stored member-days: read what they need, verify them, store the results.

Only the member-days asked for are verified (an upload's, a review's); what compares them with
others reads small summaries kept in the store (:mod:`geoverify.engines.incremental` explains which):
the day tracks of other members whose space-time cells meet theirs, the member's own days of the
replay window, the events around. Verification runs in two steps:

1. :func:`prepare`: read a snapshot and measure each member-day (the costly part), outside the
   writer lock;
2. :func:`write_prepared`: inside the writer lock, compare with the neighbours as stored now,
   settle credit, check events, store patrols, flags and day tracks, bring the ledger in line,
   and enqueue what the change may affect (two-phones partners, later days of the replay window).

Workers compare before step 2, on their snapshot (:mod:`geoverify.store.neighbours`), and keep
that comparison in step 2 only when :func:`~geoverify.store.neighbours.still_around` finds no day
track near theirs changed since (the log of changes, :func:`geoverify.store.track_index.changed_since`); else they
compare again there. So step 2 always writes a comparison with the latest neighbours: a pair of
member-days verified concurrently is judged again by whichever is written last, and its partner is
enqueued when the pair's outcome may have changed: once the queue is empty, every stored
member-day holds what one batch over all stored input gives it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from geoverify.engines.batch import batch_context
from geoverify.engines.incremental import MemberDays, find_replays, measure_member_days
from geoverify.patrol.verify import patrol_id as make_patrol_id
from geoverify.preprocessing.days import DayTrack
from geoverify.store import audit, ledger, queue
from geoverify.store.clock import utc_now_text
from geoverify.store.db import Store
from geoverify.store.frames import (
    FIX_TABLE_COLUMNS,
    cached_site_frame,
    fix_table_from_rows,
    load_grids,
    stored_marks,
    unique_event_table,
)
from geoverify.store.neighbours import Prepared, compare_prepared
from geoverify.store.schema import events, fixes, flags, patrols, reviews
from geoverify.store.storing import visible
from geoverify.store.track_index import store_day_track, summaries

Key = tuple[str, dt.date]
NS = 10**9

REVIEW_STATUS = {"confirm": "confirmed", "dismiss": "dismissed"}


def member_day_keys(members: np.ndarray, time_ns: np.ndarray, tz: str, margin_s: float = 0.0) -> set[Key]:
    """(member, local date) of each fix, widened by ``margin_s`` either side (midnight segments).

    Read per distinct (member, minute): each distinct minute is converted to a local date once.
    """
    if not len(time_ns):
        return set()
    codes, names = pd.factorize(np.asarray(members, dtype=object))
    minute = np.asarray(time_ns, dtype=np.int64) // 60_000_000_000
    low = int(minute.min())
    span = int(minute.max()) - low + 1
    pairs = np.unique(codes.astype(np.int64) * span + (minute - low))
    member_of, minute_of = names[pairs // span].tolist(), pairs % span + low
    shifts = {0, int(margin_s // 60) + 1, -int(margin_s // 60) - 1} if margin_s else {0}
    wanted = np.unique(np.concatenate([minute_of + shift for shift in shifts]))
    day_of = dict(zip(wanted.tolist(), pd.DatetimeIndex(wanted * 60_000_000_000, tz="UTC").tz_convert(tz).date))
    out: set[Key] = set()
    for shift in shifts:
        out.update(zip(member_of, [day_of[m] for m in (minute_of + shift).tolist()]))
    return out


def max_gap_s(store: Store) -> float:
    """The longest ``max_gap_s`` of the store's rules (how far a day's segments reach past midnight)."""
    return max(r.max_gap_s for r in store.rules.every)


def _day_window(day: dt.date, tz: str, margin_s: float) -> tuple[int, int]:
    start = pd.Timestamp(day).tz_localize(tz).value
    end = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(tz).value
    return start - int(margin_s * NS), end + int(margin_s * NS)


def reviews_map(conn: Connection, owners: Iterable[str] | None = None) -> dict[str, str]:
    """flag_id → ``confirmed`` | ``dismissed``: each flag's latest review.

    Given ``owners`` (patrol ids, and ``event_id@member_id`` of events), only the reviews of their
    flags, whose ids start with ``<owner>.`` (:class:`geoverify.flags.Flag`): a member-day reads
    its own reviews, not every review ever made.
    """
    query = select(reviews.c.flag_id, reviews.c.decision).order_by(reviews.c.review_id)
    if owners is None:
        return {r.flag_id: r.decision for r in conn.execute(query).all()}
    names = sorted(set(owners))
    found: dict[str, str] = {}
    for chunk in range(0, len(names), 200):
        # "<owner>." up to "<owner>/" ('/' follows '.'): every id with that prefix, as text sorts
        # by code point on both backends, read through the flag_id index.
        ranges = [and_(reviews.c.flag_id >= f"{o}.", reviews.c.flag_id < f"{o}/") for o in names[chunk : chunk + 200]]
        found.update({r.flag_id: r.decision for r in conn.execute(query.where(or_(*ranges))).all()})
    return found


@dataclass
class Snapshot:
    """What :func:`prepare` reads for some member-days: their fixes and events, the grids, sites and
    stored reviews, and their members' earlier days of the replay window."""

    keys: set[Key]
    fixes: pd.DataFrame
    events: pd.DataFrame
    grids: list
    sites: pd.DataFrame
    reviews: dict[str, str]
    history: list[DayTrack]


def read_snapshot(store: Store, conn: Connection, keys: Iterable[Key]) -> Snapshot:
    """Read what measuring the member-days ``keys`` needs from ``conn`` (a read snapshot or the
    writer transaction); :func:`measure` it once per set of reviews."""
    keys = set(keys)
    margin = max_gap_s(store)
    by_date: dict[dt.date, list[str]] = {}
    for member, day in keys:
        by_date.setdefault(day, []).append(member)
    rows: list[Any] = []
    event_rows: list[Any] = []
    for day, members in sorted(by_date.items()):
        lo, hi = _day_window(day, store.tz, margin)
        for chunk in range(0, len(members), 500):
            names = sorted(members)[chunk : chunk + 500]
            rows += conn.execute(
                select(*FIX_TABLE_COLUMNS)
                .where(fixes.c.member_id.in_(names), fixes.c.time_ns >= lo, fixes.c.time_ns < hi, visible())
                .order_by(fixes.c.member_id, fixes.c.time_ns)
            ).all()
            event_rows += conn.execute(
                select(events).where(events.c.member_id.in_(names), events.c.time_ns >= lo, events.c.time_ns < hi)
            ).all()
    window = max(int(r.duplicate_replay_window_days) for r in store.rules.every)
    grids_mark, sites_mark = stored_marks(conn)
    history = {(member, (day - dt.timedelta(days=k)).isoformat()) for member, day in keys for k in range(1, window + 1)}
    return Snapshot(
        keys=keys,
        fixes=fix_table_from_rows(rows),
        events=unique_event_table([r._mapping for r in event_rows]),
        grids=_grids(store, conn, grids_mark),
        sites=cached_site_frame(store.cache, conn, sites_mark),
        reviews=reviews_map(conn, _flag_owners(keys, event_rows)),
        history=summaries(conn, history),
    )


def _flag_owners(keys: set[Key], event_rows: list) -> list[str]:
    """What the member-days' flag ids start with: their patrol ids and their events' ``event_id@member_id``."""
    return [make_patrol_id(m, d) for m, d in keys] + [f"{r.event_id}@{r.member_id}" for r in event_rows]


def measure(store: Store, snapshot: Snapshot, reviews: dict[str, str] | None = None) -> Prepared:
    """Measure the snapshot's member-days with ``reviews`` (flag_id → ``confirmed`` | ``dismissed``;
    default: the stored reviews). Reads nothing: one snapshot serves several what-ifs."""
    ctx = batch_context(
        snapshot.grids,
        rules=store.rules,
        tz=store.tz,
        now=store.now(),
        events=snapshot.events,
        sites=snapshot.sites,
        reviews=snapshot.reviews if reviews is None else reviews,
    )
    part = measure_member_days(snapshot.fixes, ctx, snapshot.keys)
    return Prepared(
        keys=set(snapshot.keys),
        part=part,
        ctx=ctx,
        events_read=snapshot.events,
        replays=find_replays(part, ctx, snapshot.keys, snapshot.history),
    )


def prepare(store: Store, conn: Connection, keys: Iterable[Key], reviews: dict[str, str] | None = None) -> Prepared:
    """Read the keys' fixes, grids, sites, reviews and events from ``conn`` and measure each member-day.

    Parameters
    ----------
    conn : Connection
        A read snapshot (or the writer transaction, for a review).
    keys : iterable of (member_id, date)
    reviews : dict, optional
        flag_id → ``confirmed`` or ``dismissed`` to verify with instead of the stored reviews (a
        what-if: :mod:`geoverify.store.preview`).
    """
    return measure(store, read_snapshot(store, conn, keys), reviews)


def _grids(store: Store, conn: Connection, mark: tuple) -> list:
    """The stored grids, kept by the store between batches while their ``mark``
    (:func:`geoverify.store.frames.stored_marks`) holds (the grids' cached rasters and projections
    are then reused too)."""
    cached = store.cache.get("grids")
    if cached is None or cached[0] != mark:
        cached = (mark, load_grids(conn))
        store.cache["grids"] = cached
    return cached[1]


def write_prepared(
    store: Store, conn: Connection, prepared: Prepared, actor: str = "system", found: MemberDays | None = None
) -> list[dict]:
    """Compare, settle, check events and store the prepared member-days (step 2, writer lock held).

    Parameters
    ----------
    found : MemberDays, optional
        The comparison made outside the lock (:func:`geoverify.store.neighbours.compare_prepared`
        on what :func:`~geoverify.store.neighbours.read_around` read), when
        :func:`~geoverify.store.neighbours.still_around` holds for it; by default the member-days
        are compared here with their neighbours as stored now.

    Returns
    -------
    list of dict
        Per member-day with a patrol: ``patrol_id``, ``credit``, ``changed`` (whether the stored
        result changed) and ``ledger`` (entries appended).
    """
    keys = prepared.keys
    window = max(int(r.duplicate_replay_window_days) for r in store.rules.every)
    if found is None:
        found = compare_prepared(store, conn, prepared)
    stamp = utc_now_text()
    summary = []
    patrol_of = {(p.member_id, p.date): p for p in found.patrols}
    for key in sorted(keys, key=lambda k: (k[1], k[0])):
        member, day = key
        pid = make_patrol_id(member, day)
        patrol = patrol_of.get(key)
        flag_rows = []
        if patrol is not None:
            doc = patrol.to_dict(store.tz)
            item = _store_patrol(store, conn, patrol, doc, stamp, actor)
            summary.append(item)
            flag_rows += _flag_rows(doc, patrol)
        grid_id = patrol.grid_id if patrol is not None else None
        for check in found.events.get(key, []):
            flag_rows += _event_flag_rows(check, store.tz, pid, grid_id)
        conn.execute(delete(flags).where(flags.c.patrol_id == pid))
        unique = {row["flag_id"]: row for row in flag_rows}
        if unique:
            conn.execute(insert(flags), list(unique.values()))
        store_day_track(store, conn, key, found.summaries.get(key), found.partners.get(key, set()), window)
    return summary


def _store_patrol(store: Store, conn: Connection, patrol, doc: dict, stamp: str, actor: str) -> dict:
    for flag_doc, flag in zip(doc["flags"], patrol.flags):
        flag_doc.setdefault("status", getattr(flag, "status", "open"))
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str)
    values = {
        "member_id": patrol.member_id,
        "grid_id": patrol.grid_id,
        "date": doc["date"],
        "verified_s": float(doc["verified_s"]),
        "credit_status": doc["credit"]["status"],
        "points": float(doc["credit"]["points"]),
        "rule_version": patrol.rule_version,
        "document": text,
        "verified_at": stamp,
    }
    old = conn.execute(select(patrols.c.document).where(patrols.c.patrol_id == patrol.patrol_id)).first()
    changed = old is None or old.document != text
    if old is None:
        conn.execute(insert(patrols).values(patrol_id=patrol.patrol_id, **values))
    elif changed:
        conn.execute(update(patrols).where(patrols.c.patrol_id == patrol.patrol_id).values(**values))
    if changed:
        audit.append(
            conn,
            actor,
            "patrol.verified",
            "patrol",
            patrol.patrol_id,
            {
                "credit": doc["credit"],
                "verified_s": doc["verified_s"],
                "flags": len(doc["flags"]),
                "rule_version": patrol.rule_version,
            },
        )
    entries = ledger.sync_patrol(
        conn, {**doc, "rule_version": patrol.rule_version}, actor, settled=store.settled(patrol.date)
    )
    return {"patrol_id": patrol.patrol_id, "credit": doc["credit"], "changed": changed, "ledger": entries}


def _flag_rows(patrol_doc: dict, patrol) -> list[dict]:
    rows = []
    for flag, doc in zip(patrol.flags, patrol_doc["flags"]):
        rows.append(
            {
                "flag_id": doc["flag_id"],
                "patrol_id": patrol.patrol_id,
                "event_id": None,
                "member_id": patrol.member_id,
                "grid_id": patrol.grid_id,
                "date": patrol_doc["date"],
                "code": doc["code"],
                "severity": doc["severity"],
                "status": doc.get("status") or getattr(flag, "status", None) or "open",
                "start": doc["start"],
                "end": doc["end"],
                "lon": doc["lon"],
                "lat": doc["lat"],
                "evidence": json.dumps(doc["evidence"], ensure_ascii=False, default=str),
            }
        )
    return rows


def _event_flag_rows(check, tz: str, pid: str, grid_id: str | None) -> list[dict]:
    doc = check.to_dict(tz)
    rows = []
    for flag in doc.get("flags", []):
        if not flag.get("flag_id"):
            continue
        rows.append(
            {
                "flag_id": flag["flag_id"],
                "patrol_id": pid,
                "event_id": doc["event_id"],
                "member_id": doc["member_id"],
                "grid_id": grid_id,
                "date": str(flag["start"])[:10],
                "code": flag["code"],
                "severity": flag["severity"],
                "status": flag.get("status", "open"),
                "start": flag["start"],
                "end": flag.get("end"),
                "lon": flag.get("lon"),
                "lat": flag.get("lat"),
                "evidence": json.dumps(flag.get("evidence", {}), ensure_ascii=False, default=str),
            }
        )
    return rows


def verify_now(store: Store, conn: Connection, keys: Iterable[Key], actor: str = "system") -> list[dict]:
    """Verify member-days at once inside the caller's writer transaction (a review lands at once).

    Any pending work on them is taken off the queue; a worker that had claimed it discards its
    result (the row it claimed is gone).
    """
    keys = set(keys)
    if not keys:
        return []
    settle(store, conn, actor)
    queue.remove(conn, keys)
    return write_prepared(store, conn, prepare(store, conn, keys), actor)


def settle(store: Store, conn: Connection | None = None, actor: str = "system") -> list[dict]:
    """Write the credit of every stored day that has settled since the last settlement.

    Cheap when nothing is due: one indexed look-up of the next stored date after the last settled
    one (remembered by the store). With ``conn`` (a writer transaction) it writes there; else it
    opens one only when a day is due.

    Returns
    -------
    list of dict
        The ledger entries appended.
    """
    if conn is None:
        with store.read() as reader:
            if not _due(store, reader):
                return []
        with store.write() as writer:
            return settle(store, writer, actor)
    if not _due(store, conn):
        return []
    # Under the writer lock: another process may have settled some of these days meanwhile.
    days = ledger.due_dates(conn, store.settled, ledger.last_settled(conn) or "")
    entries = ledger.settle_days(conn, days, actor)
    if days:
        store.settled_through = days[-1]
    return entries


def _due(store: Store, conn: Connection) -> bool:
    """Whether a stored day has settled since the last settlement this process knows of."""
    if store.settled_through is None:
        store.settled_through = ledger.last_settled(conn) or ""
    return bool(ledger.due_dates(conn, store.settled, store.settled_through))
