"""The two-phones look-up through the store's index (spec "HTTP API": cross-member candidates
found through an index) finds exactly the members a full read of their cells finds.

:func:`geoverify.store.track_index.candidates` reads, tile by tile, only the cells inside the box
around the track's widened cells; :func:`~geoverify.store.track_index.candidates_among` reads every
cell of the members it is given. On random tracks that wander across 0.01° tile edges, side by
side (within the 30 m of DUPLICATE_TRACK) or apart, both must name the same members.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from geoverify.preprocessing.days import DayTrack
from geoverify.store.track_index import candidates, candidates_among, store_day_track

DAY = dt.date(2026, 11, 2)
T0 = 1_762_041_600 * 10**9  # 2026-11-02 08:00 +08:00, in UTC nanoseconds


def _track(member: str, lon: np.ndarray, lat: np.ndarray, start_s: float) -> DayTrack:
    n = len(lon)
    return DayTrack(
        member_id=member,
        date=DAY,
        time_ns=(T0 + (start_s + 10.0 * np.arange(n)) * 1e9).astype(np.int64),
        lon=lon,
        lat=lat,
        accuracy=np.full(n, 5.0),
        synthetic=np.zeros(n, bool),
        source=np.full(n, "test", dtype=object),
        line=np.arange(n, dtype=np.int64),
        device_id=np.full(n, None, dtype=object),
    )


def _walk(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A walk at about 1.3 m/s (a fix every 10 s) starting near the corner of four 0.01° tiles."""
    heading = np.cumsum(rng.normal(0.0, 0.4, n))
    step = 13.0 / 100_000.0  # degrees, about 13 m
    lon = 116.40 + rng.uniform(-0.002, 0.002) + np.cumsum(step * np.cos(heading) / np.cos(np.radians(39.9)))
    lat = 39.90 + rng.uniform(-0.002, 0.002) + np.cumsum(step * np.sin(heading))
    return lon, lat


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_tile_look_up_finds_what_reading_every_cell_finds(store, seed):
    rng = np.random.default_rng(seed)
    tracks = []
    for k in range(8):
        lon, lat = _walk(rng, 360)  # an hour
        start = float(rng.integers(0, 4)) * 900.0
        tracks.append(_track(f"A{k}", lon, lat, start))
        if k % 2 == 0:  # a second phone beside it: within 5 to 20 m for the whole hour
            offset = rng.uniform(5.0, 20.0) / 100_000.0
            tracks.append(_track(f"B{k}", lon + offset, lat - offset / 2, start))
    # Straight north across a tile edge, a second phone 20 m east all the way: its cells lie just
    # outside the first's own cells, inside only their widened boxes.
    north = 39.90 - 0.004 + np.arange(360) * 13.0 / 100_000.0
    east = 20.0 / 100_000.0 / np.cos(np.radians(39.9))
    tracks += [_track("S0", np.full(360, 116.405), north, 0.0), _track("S1", np.full(360, 116.405 + east), north, 0.0)]
    with store.write() as conn:
        for track in tracks:
            store_day_track(store, conn, (track.member_id, DAY), track, set(), window=0)
    members = [t.member_id for t in tracks]
    found = {}
    with store.read() as conn:
        for track in tracks:
            by_tile = candidates(store, conn, track)
            assert by_tile == candidates_among(store, conn, track, members), track.member_id
            found[track.member_id] = set(by_tile)
    # Every second phone is found, both ways; so the comparison above cannot pass on empty answers.
    for first, second in [(f"A{k}", f"B{k}") for k in range(0, 8, 2)] + [("S0", "S1")]:
        assert second in found[first] and first in found[second]


def test_day_track_summaries_read_back_as_written_and_as_older_versions_stored_them():
    """A summary holds times, positions and device ids; read back, they are the track's. Summaries
    stored before (numpy ``.npz`` archives) still read the same."""
    import io

    from geoverify.store.track_index import SUMMARY_MAGIC, pack_track, unpack_track

    rng = np.random.default_rng(5)
    lon, lat = _walk(rng, 720)
    track = _track("M001", lon, lat, 0.0)
    track.device_id = np.array(["phone-1", None, "设备二"] * 240, dtype=object)
    older = io.BytesIO()
    np.savez(
        older,
        t=track.time_ns,
        x=track.lon,
        y=track.lat,
        d=np.asarray([str(d) for d in track.device_id], dtype=str),
    )
    blob = pack_track(track)
    assert blob[:4] == SUMMARY_MAGIC
    assert len(blob) == 12 + 720 * (8 + 8 + 8 + 4) + len('["phone-1", "None", "设备二"]'.encode())
    for stored in (blob, older.getvalue()):
        back = unpack_track("M001", "2026-11-02", stored)
        assert (back.member_id, back.date) == ("M001", DAY)
        assert back.time_ns.dtype == np.int64 and np.array_equal(back.time_ns, track.time_ns)
        assert np.array_equal(back.lon, track.lon) and np.array_equal(back.lat, track.lat)
        assert back.device_id.tolist() == ["phone-1", "None", "设备二"] * 240  # as earlier summaries held them
    empty = unpack_track("M002", "2026-11-02", pack_track(_track("M002", np.zeros(0), np.zeros(0), 0.0)))
    assert len(empty.time_ns) == 0 and len(empty.device_id) == 0
    track.device_id = np.zeros(0, dtype=object)  # a summary read back holds no device ids when none were kept
    back = unpack_track("M001", "2026-11-02", pack_track(track))
    assert len(back.time_ns) == 720 and len(back.device_id) == 0


def test_a_summary_stored_as_npz_is_rewritten_once_and_its_later_day_verified_once_more(store, tmp_path):
    """After an upgrade, a member-day whose summary an earlier version stored (``.npz``) is
    rewritten in the new layout the first time it is verified again. That counts as a change of
    its track, so its later day within the replay window is verified once more; after that,
    verifying it again enqueues nothing, and no patrol changes."""
    import hashlib
    import io
    import json

    from sqlalchemy import select, update

    from geoverify.store import queue
    from geoverify.store.ingest import upload
    from geoverify.store.schema import day_tracks, patrols
    from geoverify.store.track_index import SUMMARY_MAGIC, unpack_track
    from geoverify.store.worker import drain

    from .conftest import GRIDS, SAMPLES

    header, *rows = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    day_before = tmp_path / "M001_day_before.csv"
    day_before.write_text("\n".join([header] + [r.replace("2026-11-02T", "2026-11-01T", 1) for r in rows]) + "\n")
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    for path in (day_before, SAMPLES / "honest_M001.csv"):
        upload(store, "tracks", path.read_bytes(), suffix=".csv")
    drain(store)
    first, second = dt.date(2026, 11, 1), dt.date(2026, 11, 2)

    def stored():
        with store.read() as conn:
            docs = dict(conn.execute(select(patrols.c.patrol_id, patrols.c.document)).all())
            blob = conn.execute(
                select(day_tracks.c.summary).where(day_tracks.c.member_id == "M001", day_tracks.c.date == "2026-11-01")
            ).scalar_one()
        return docs, bytes(blob)

    docs, blob = stored()
    assert blob[:4] == SUMMARY_MAGIC
    # As an earlier version stored it: an .npz archive, and the SHA-256 of that archive.
    track = unpack_track("M001", "2026-11-01", blob)
    older = io.BytesIO()
    np.savez(older, t=track.time_ns, x=track.lon, y=track.lat, d=np.asarray(track.device_id.tolist(), dtype=str))
    with store.write() as conn:
        conn.execute(
            update(day_tracks)
            .where(day_tracks.c.member_id == "M001", day_tracks.c.date == "2026-11-01")
            .values(summary=older.getvalue(), summary_sha256=hashlib.sha256(older.getvalue()).hexdigest())
        )
    assert unpack_track("M001", "2026-11-01", stored()[1]).time_ns.tolist() == track.time_ns.tolist()

    for expected_later in ({("M001", second)}, set()):  # the rewrite enqueues the later day once
        with store.write() as conn:
            queue.enqueue(conn, [("M001", first)])
        drain(store, keys=[("M001", first)])
        with store.read() as conn:
            assert set(queue.pending(conn, [("M001", second)])) == expected_later
        drain(store)
        again, blob = stored()
        assert blob[:4] == SUMMARY_MAGIC
        assert {p: json.loads(d) for p, d in again.items()} == {p: json.loads(d) for p, d in docs.items()}
