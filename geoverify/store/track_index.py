"""The store's index of day tracks: each member-day's track summary (packed), its space-time cells
on 0.01° tiles, and its two-phones partners; what a member-day is compared with (other members'
candidates, the member's earlier days) is found through it, never by reading the whole day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Row, String, and_, delete, func, insert, literal, select, tuple_, update

from geoverify.detectors.duplicates import cell_bucket_s, track_cells
from geoverify.preprocessing.days import DayTrack
from geoverify.store import queue
from geoverify.store.db import Store
from geoverify.store.schema import day_tracks, track_changes
from geoverify.store.schema import track_cells as cells_table

Key = tuple[str, dt.date]


def degrees_around(metres: float, lat: float) -> tuple[float, float]:
    """(dlon, dlat) in degrees that cover at least ``metres`` around latitude ``lat`` (boxes err wide)."""
    dlat = metres / 100_000.0
    return dlat / max(float(np.cos(np.radians(min(abs(lat) + dlat, 89.0)))), 0.01), dlat


#: the first bytes of a day track summary as :func:`pack_track` writes it (older ones are numpy
#: ``.npz`` archives, which start with a zip file's ``PK``)
SUMMARY_MAGIC = b"GVT1"
_HEADER = struct.Struct("<4sII")  # magic, fixes, device numbers (one per fix, or none)


def pack_track(track: DayTrack) -> bytes:
    """A day track summary as stored in ``day_tracks.summary``: a header, then times (UTC ns,
    int64), lon and lat (WGS-84 degrees, float64), a device number per fix (int32; none when the
    track holds no device ids) and the devices' names (JSON), all little-endian; read back without
    parsing (no pickles)."""
    codes, names = pd.factorize(np.asarray([str(d) for d in track.device_id], dtype=object))
    return b"".join(
        [
            _HEADER.pack(SUMMARY_MAGIC, len(track.time_ns), len(codes)),
            np.ascontiguousarray(track.time_ns, dtype="<i8").tobytes(),
            np.ascontiguousarray(track.lon, dtype="<f8").tobytes(),
            np.ascontiguousarray(track.lat, dtype="<f8").tobytes(),
            np.asarray(codes, dtype="<i4").reshape(-1).tobytes(),
            json.dumps([str(name) for name in names], ensure_ascii=False).encode("utf-8"),
        ]
    )


def unpack_track(member: str, day: str, blob: bytes) -> DayTrack:
    """The :class:`DayTrack` summary stored by :func:`pack_track` (or, before it, as a numpy
    ``.npz`` archive)."""
    if blob[:4] == SUMMARY_MAGIC:
        _, n, devices = _HEADER.unpack_from(blob)
        at = _HEADER.size

        def take(dtype: str, count: int) -> np.ndarray:
            nonlocal at
            values = np.frombuffer(blob, dtype=dtype, count=count, offset=at).copy()
            at += values.nbytes
            return values

        time_ns, lon, lat, codes = take("<i8", n), take("<f8", n), take("<f8", n), take("<i4", devices)
        names = np.asarray(json.loads(blob[at:].decode("utf-8")), dtype=object)
        device_id = names[codes] if devices else np.zeros(0, object)
    else:
        data = np.load(io.BytesIO(blob), allow_pickle=False)
        time_ns, lon, lat, device_id = data["t"], data["x"], data["y"], data["d"].astype(object)
    empty = np.zeros(0)
    return DayTrack(
        member_id=member,
        date=dt.date.fromisoformat(day),
        time_ns=time_ns.astype(np.int64),
        lon=lon.astype(float),
        lat=lat.astype(float),
        accuracy=empty,
        synthetic=np.zeros(0, bool),
        source=np.zeros(0, object),
        line=np.zeros(0, np.int64),
        rejected={},
        mock=np.zeros(0, bool),
        speed=empty,
        device_id=device_id,
        crs=np.zeros(0, object),
        network=np.zeros(0, bool),
    )


TILE_DEG = 0.01


def tiles(x0: float, y0: float, x1: float, y1: float) -> list[int]:
    """The 0.01° tiles a lon/lat box meets, as integers (row × 100,000 + column)."""
    cols = range(int(np.floor(x0 / TILE_DEG)), int(np.floor(x1 / TILE_DEG)) + 1)
    rows = range(int(np.floor(y0 / TILE_DEG)), int(np.floor(y1 / TILE_DEG)) + 1)
    return [r * 100_000 + c for r in rows for c in cols]


@dataclass
class _Reach:
    """A track's space-time cells as the two-phones look-up reads them, with the margin around them."""

    mine: dict[int, list[float]]  #: bucket → lon/lat box (WGS-84 degrees)
    #: tile → the lowest and highest bucket whose widened box meets it, and the box (lon/lat
    #: degrees: x0, y0, x1, y1) around those widened boxes
    spans: dict[int, list[float]]
    dlon: float
    dlat: float
    bucket_s: float
    needed_s: float  #: seconds of meeting buckets a pair needs to be compared at all


def _reach(store: Store, track: DayTrack) -> _Reach:
    rules = store.rules.every
    bucket_s = cell_bucket_s(rules)
    buckets, bounds = track_cells(track, bucket_s)
    # Within this margin of a box another box can hold a second phone.
    dlon, dlat = degrees_around(
        max(r.duplicate_track_distance_m for r in rules) + 1.0, float(np.abs(bounds[:, [1, 3]]).max())
    )
    spans: dict[int, list[float]] = {}
    for b, (x0, y0, x1, y1) in zip(buckets.tolist(), bounds.tolist()):
        x0, y0, x1, y1 = x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat
        for t in tiles(x0, y0, x1, y1):
            span = spans.setdefault(t, [b, b, x0, y0, x1, y1])
            span[:] = [min(span[0], b), max(span[1], b)] + _union(span[2:], [x0, y0, x1, y1])
    # As find_duplicate_tracks: the pair can pass only if they meet in enough buckets.
    needed = min(r.duplicate_track_share * r.duplicate_track_min_overlap_s for r in rules)
    return _Reach(dict(zip(buckets.tolist(), bounds.tolist())), spans, dlon, dlat, bucket_s, needed)


def _union(box: list[float], other: list[float]) -> list[float]:
    return [min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])]


_CELL_COLUMNS = (
    cells_table.c.member_id,
    cells_table.c.bucket,
    cells_table.c.min_lon,
    cells_table.c.min_lat,
    cells_table.c.max_lon,
    cells_table.c.max_lat,
)


def _meeting(reach: _Reach, rows: Iterable[Row]) -> list[str]:
    """The members of the cell ``rows`` whose boxes meet the track's in enough buckets."""
    meets: dict[str, set[int]] = {}
    for r in rows:
        box = reach.mine.get(int(r.bucket))
        if (
            box is not None
            and r.max_lon >= box[0] - reach.dlon
            and r.min_lon <= box[2] + reach.dlon
            and r.max_lat >= box[1] - reach.dlat
            and r.min_lat <= box[3] + reach.dlat
        ):
            meets.setdefault(r.member_id, set()).add(int(r.bucket))
    return sorted(m for m, b in meets.items() if len(b) * reach.bucket_s >= reach.needed_s)


def candidates(store: Store, conn: Connection, track: DayTrack) -> list[str]:
    """Other members whose stored cells meet the track's in enough buckets to be its second phone."""
    reach = _reach(store, track)
    # Each tile with the buckets whose widened box meets it, read one tile at a time: an equality on
    # the tile keeps every read a narrow range of ix_track_cells_tile, whatever plan PostgreSQL
    # caches for the prepared statement (a list of tiles became a filter over the whole day's cells).
    # Only cells within the box around those widened boxes can meet one of them: a cell that meets
    # a box is found in the tile where they meet, so the box drops no candidate.
    rows: list[Row] = []
    for t, (low, high, x0, y0, x1, y1) in sorted(reach.spans.items()):
        rows += conn.execute(
            select(*_CELL_COLUMNS).where(
                cells_table.c.date == track.date.isoformat(),
                cells_table.c.tile == t,
                cells_table.c.bucket >= int(low),
                cells_table.c.bucket <= int(high),
                cells_table.c.max_lon >= x0,
                cells_table.c.min_lon <= x1,
                cells_table.c.max_lat >= y0,
                cells_table.c.min_lat <= y1,
                cells_table.c.member_id != track.member_id,
            )
        ).all()
    return _meeting(reach, rows)


def candidates_among(store: Store, conn: Connection, track: DayTrack, members: Iterable[str]) -> list[str]:
    """Those of ``members`` (other members) whose stored cells now meet the track's as
    :func:`candidates` requires: the same answer for them, read by member instead of by tile."""
    names = sorted(set(members) - {track.member_id})
    if not names:
        return []
    rows = conn.execute(
        select(*_CELL_COLUMNS).where(cells_table.c.member_id.in_(names), cells_table.c.date == track.date.isoformat())
    ).all()
    return _meeting(_reach(store, track), rows)


#: rows of ``track_changes`` kept; a snapshot older than this many changes is compared again under the lock
KEEP_CHANGES = 100_000


def change_mark(conn: Connection) -> int:
    """The number of the latest day-track change ``conn`` sees (0 when none)."""
    return int(conn.execute(select(func.max(track_changes.c.seq))).scalar_one() or 0)


def note_change(conn: Connection, key: Key) -> None:
    """Log a change of the member-day's day track (in the writer transaction that made it); prunes
    the log to its last :data:`KEEP_CHANGES` rows now and then."""
    seq = conn.execute(
        insert(track_changes)
        .from_select(
            ["seq", "member_id", "date"],
            select(
                func.coalesce(func.max(track_changes.c.seq), 0) + 1,
                literal(key[0], String),
                literal(key[1].isoformat(), String),
            ),
        )
        .returning(track_changes.c.seq)
    ).scalar_one()
    if seq % 1000 == 0:
        conn.execute(delete(track_changes).where(track_changes.c.seq <= seq - KEEP_CHANGES))


def changed_since(conn: Connection, mark: int) -> list[Key] | None:
    """The member-days whose day track changed after change ``mark`` (in the writer transaction:
    every change committed before it), or None when the log no longer reaches back that far."""
    rows = conn.execute(
        select(track_changes.c.seq, track_changes.c.member_id, track_changes.c.date).where(track_changes.c.seq > mark)
    ).all()
    if rows and min(r.seq for r in rows) > mark + 1:  # pruned past the mark
        return None
    return sorted({(r.member_id, dt.date.fromisoformat(r.date)) for r in rows})


def summaries(conn: Connection, pairs: Iterable[tuple[str, str]]) -> list[DayTrack]:
    pairs = sorted(set(pairs))
    out = []
    for chunk in range(0, len(pairs), 200):
        for r in conn.execute(
            select(day_tracks.c.member_id, day_tracks.c.date, day_tracks.c.summary).where(
                tuple_(day_tracks.c.member_id, day_tracks.c.date).in_(pairs[chunk : chunk + 200])
            )
        ):
            out.append(unpack_track(r.member_id, r.date, r.summary))
    return out


def store_day_track(
    store: Store, conn: Connection, key: Key, track: DayTrack | None, partners: set[str], window: int
) -> None:
    """Store the member-day's track summary, cells and partners; enqueue what its change affects.

    When the track changed, its old and new two-phones partners and the member's stored later
    days within the replay window are enqueued; when only the partners changed, those that came
    or went are.
    """
    member, day = key
    where = and_(day_tracks.c.member_id == member, day_tracks.c.date == day.isoformat())
    # The stored row of this day and the dates of the member's later days within the window, at once.
    rows = conn.execute(
        select(day_tracks.c.date, day_tracks.c.summary_sha256, day_tracks.c.partners).where(
            day_tracks.c.member_id == member,
            day_tracks.c.date >= day.isoformat(),
            day_tracks.c.date <= (day + dt.timedelta(days=window)).isoformat(),
        )
    ).all()
    old = next((r for r in rows if r.date == day.isoformat()), None)
    old_partners = set(json.loads(old.partners)) if old is not None else set()
    blob = pack_track(track) if track is not None else None
    sha = hashlib.sha256(blob).hexdigest() if blob is not None else None
    track_changed = (old.summary_sha256 if old is not None else None) != sha
    if track_changed:
        note_change(conn, key)
        conn.execute(
            delete(cells_table).where(cells_table.c.member_id == member, cells_table.c.date == day.isoformat())
        )
        values = {"summary_sha256": sha, "summary": blob, "partners": json.dumps(sorted(partners))}
        if track is None:
            conn.execute(delete(day_tracks).where(where))
        elif old is None:
            conn.execute(insert(day_tracks).values(member_id=member, date=day.isoformat(), **values))
        else:
            conn.execute(update(day_tracks).where(where).values(**values))
        if track is not None:
            buckets, bounds = track_cells(track, cell_bucket_s(store.rules.every))
            conn.execute(
                insert(cells_table),
                [
                    {
                        "member_id": member,
                        "date": day.isoformat(),
                        "bucket": int(b),
                        "tile": tile,
                        "min_lon": x0,
                        "min_lat": y0,
                        "max_lon": x1,
                        "max_lat": y1,
                    }
                    for b, (x0, y0, x1, y1) in zip(buckets.tolist(), bounds.tolist())
                    for tile in tiles(x0, y0, x1, y1)
                ],
            )
        later = sorted(r.date for r in rows if r.date > day.isoformat())
        queue.enqueue(conn, [(member, dt.date.fromisoformat(d)) for d in later])
        affected = old_partners | partners
    else:
        if partners != old_partners and track is not None:
            conn.execute(update(day_tracks).where(where).values(partners=json.dumps(sorted(partners))))
        affected = old_partners ^ partners
    queue.enqueue(conn, [(m, day) for m in affected])
