"""What a prepared member-day is compared with, and the comparison: other members' day tracks that
may be its second phone (found through :mod:`geoverify.store.track_index`) and the events around
its own.

A worker reads these on its read snapshot (:func:`read_around`) and compares outside the writer
lock (:func:`compare_prepared`); under the lock, :func:`still_around` says whether that comparison
still holds (no day track near theirs changed since), else the member-days are compared again
there (:func:`geoverify.store.verification.write_prepared`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from geoverify.engines.batch import BatchContext, MemberPart
from geoverify.engines.incremental import MemberDays, finish_member_days
from geoverify.preprocessing.days import DayTrack
from geoverify.store.db import Store
from geoverify.store.frames import unique_event_table
from geoverify.store.schema import events
from geoverify.store.track_index import (
    Key,
    candidates,
    candidates_among,
    change_mark,
    changed_since,
    degrees_around,
    summaries,
)

NS = 10**9


@dataclass
class Prepared:
    """Member-days measured from a snapshot, waiting to be compared and written (step 1 of
    :mod:`geoverify.store.verification`)."""

    keys: set[Key]
    part: MemberPart
    ctx: BatchContext
    events_read: pd.DataFrame
    #: replay flags per key, found from the snapshot's earlier days (outside the writer lock)
    replays: dict


def _events_around(store: Store, conn: Connection, own: pd.DataFrame) -> pd.DataFrame:
    """The keys' events and every earlier event that may be their duplicate (same category,
    within the duplicate window and a box well beyond the duplicate distance)."""
    if not len(own):
        return own
    window_s = max(r.event_duplicate_window_s for r in store.rules.every)
    reach_m = 2 * max(r.event_duplicate_distance_m for r in store.rules.every)
    rows: list[Any] = []
    for category, group in own.groupby("category", sort=False):
        t = group["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        lon_reach, lat_reach = degrees_around(reach_m, float(group["lat"].abs().max()))
        rows += conn.execute(
            select(events).where(
                events.c.category == str(category),
                events.c.time_ns >= int(t.min() - window_s * NS),
                events.c.time_ns <= int(t.max()),
                events.c.lon >= float(group["lon"].min()) - lon_reach,
                events.c.lon <= float(group["lon"].max()) + lon_reach,
                events.c.lat >= float(group["lat"].min()) - lat_reach,
                events.c.lat <= float(group["lat"].max()) + lat_reach,
            )
        ).all()
    own_rows = [{**r, "time_ns": int(pd.Timestamp(r["time"]).value)} for r in own.to_dict("records")]
    return unique_event_table([r._mapping for r in rows] + own_rows)


@dataclass
class Around:
    """What a member-day is compared with, as one snapshot holds it: other members' day tracks that
    may meet the prepared ones (two phones) and the events around theirs.

    Attributes
    ----------
    mark : int
        The latest day-track change the snapshot sees (:func:`geoverify.store.track_index.change_mark`).
    candidates : dict
        (member, date) of each prepared track → the other members found through the index.
    others : list of DayTrack
        Their stored day tracks.
    events : pandas.DataFrame
        The prepared member-days' events and every earlier event that may be their duplicate.
    """

    mark: int
    candidates: dict[Key, set[str]]
    others: list[DayTrack]
    events: pd.DataFrame


def read_around(store: Store, conn: Connection, prepared: Prepared) -> Around:
    """What :func:`compare_prepared` compares the prepared member-days with, as ``conn`` sees it
    now (the same whatever reviews the member-days were measured with)."""
    mark = change_mark(conn)
    found = {(t.member_id, t.date): set(candidates(store, conn, t)) for t in prepared.part.tracks}
    pairs = {(m, day.isoformat()) for (_, day), members in found.items() for m in members}
    return Around(mark, found, summaries(conn, pairs), _events_around(store, conn, prepared.events_read))


def still_around(store: Store, conn: Connection, around: Around, prepared: Prepared) -> bool:
    """Whether the other members' day tracks in ``around`` are still those a look-up now would
    read for the prepared tracks (in the writer transaction, where nothing changes meanwhile).

    They are unless a day track changed since ``around`` was read that was, or now is, a candidate
    of one of the prepared tracks: only the few changes since are read, not the index.
    """
    changed = changed_since(conn, around.mark)
    if changed is None:
        return False
    moved: dict[dt.date, set[str]] = {}
    for member, day in changed:
        moved.setdefault(day, set()).add(member)
    for track in prepared.part.tracks:
        near = moved.get(track.date, set()) - {track.member_id}
        if not near:
            continue
        if near & around.candidates.get((track.member_id, track.date), set()):
            return False
        if candidates_among(store, conn, track, near):
            return False
    return True


def compare_prepared(
    store: Store, conn: Connection | None, prepared: Prepared, around: Around | None = None
) -> MemberDays:
    """Compare the prepared member-days with their stored neighbours (``around``: as
    :func:`read_around` reads them, by default now from ``conn``), settle credit and check events
    (nothing is written): the :class:`geoverify.engines.incremental.MemberDays` of the keys."""
    if around is None:
        assert conn is not None, "compare_prepared needs a connection or what was read around"
        around = read_around(store, conn, prepared)
    return finish_member_days(
        prepared.part,
        prepared.ctx,
        prepared.keys,
        others=around.others,
        replays={k: v for k, v in prepared.replays.items() if k in prepared.keys},
        events=around.events,
    )
