"""Incremental verification gives the batch's result (spec "HTTP API": an upload verifies only the
member-days it touches, plus cross-member candidates found through an index).

The sample day (12 members, among them one person carrying two phones, M008/M009) plus a day
that M001 replays, and the sample events and sites, are uploaded in random splits and random
orders, the queue is drained in random batch sizes, and every stored patrol and event flag must
equal what one batch over all the input gives.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from geoverify.engines.batch import verify_batch
from geoverify.io import read_events, read_grids, read_sites, read_track_file
from geoverify.store import queue
from geoverify.store.ingest import upload
from geoverify.store.schema import flags, ledger, patrols
from geoverify.store.worker import Worker, drain

from .conftest import GRIDS, SAMPLES

TRACKS = sorted(SAMPLES.glob("*.csv"))
EVENTS = SAMPLES / "events" / "events.csv"
SITES = SAMPLES / "sites" / "sites.csv"


def _replayed_day(tmp_path: Path) -> Path:
    """M001's sample day, a day earlier: the sample day then replays it (DUPLICATE_TRACK replay)."""
    header, *rows = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "replayed_M001.csv"
    path.write_text(
        "\n".join([header] + [r.replace("2026-11-02T", "2026-11-01T", 1) for r in rows]) + "\n", encoding="utf-8"
    )
    return path


def _without_places(value):
    """Evidence without the file names and line numbers fixes were read from (they name the
    uploaded part, not the original file)."""
    if isinstance(value, dict):
        return {k: _without_places(v) for k, v in value.items() if k not in ("source", "line")}
    if isinstance(value, list):
        return [_without_places(v) for v in value]
    return value


def _batch(store, tracks: list[Path]):
    fixes = pd.concat([read_track_file(p, tz=store.tz) for p in tracks], ignore_index=True)
    result = verify_batch(
        read_grids(GRIDS),
        fixes,
        rules=store.rules,
        tz=store.tz,
        now=store.now(),
        events=read_events(EVENTS, tz=store.tz),
        sites=read_sites(SITES),
    )
    docs = {p.patrol_id: _without_places(p.to_dict(store.tz)) for p in result.patrols}
    event_flags = {
        (e.event_id, f["code"]): _without_places(f) for e in result.events for f in e.to_dict(store.tz)["flags"]
    }
    return docs, event_flags


def _stored(store):
    with store.read() as conn:
        docs = {r.patrol_id: _without_places(json.loads(r.document)) for r in conn.execute(select(patrols))}
        event_flags = {}
        for r in conn.execute(select(flags).where(flags.c.event_id.is_not(None))):
            event_flags[(r.event_id, r.code)] = _without_places(
                {
                    "flag_id": r.flag_id,
                    "code": r.code,
                    "severity": r.severity,
                    "status": r.status,
                    "start": r.start,
                    "end": r.end,
                    "lon": r.lon,
                    "lat": r.lat,
                    "evidence": json.loads(r.evidence),
                }
            )
        entries = conn.execute(select(ledger.c.patrol_id, ledger.c.points)).all()
        left = queue.status(conn)["pending"]
    return docs, event_flags, entries, left


def _parts(paths: list[Path], count: int, rng: random.Random) -> list[bytes]:
    """Every fix of ``paths`` once, shuffled, cut into ``count`` CSV bodies of random sizes."""
    header = paths[0].read_text(encoding="utf-8").splitlines()[0]
    rows = [row for p in paths for row in p.read_text(encoding="utf-8").splitlines()[1:]]
    rng.shuffle(rows)
    cuts = sorted(rng.sample(range(1, len(rows)), count - 1))
    return [("\n".join([header] + rows[a:b]) + "\n").encode() for a, b in zip([0] + cuts, cuts + [len(rows)])]


@pytest.mark.parametrize("seed", [1])
def test_random_splits_and_orders_give_the_batch_result(store, tmp_path, seed):
    rng = random.Random(seed)
    tracks = TRACKS + [_replayed_day(tmp_path)]
    expected_docs, expected_events = _batch(store, tracks)
    assert {"M008_20261102", "M009_20261102"} <= set(expected_docs)
    codes = {f["code"] for d in expected_docs.values() for f in d["flags"]}
    assert {"DUPLICATE_TRACK", "TELEPORT", "IDLE", "LOOP", "VEHICLE"} <= codes
    replays = [f for f in expected_docs["M001_20261102"]["flags"] if f["code"] == "DUPLICATE_TRACK"]
    assert [f["evidence"]["kind"] for f in replays] == ["replay"]

    event_rows = EVENTS.read_text(encoding="utf-8").splitlines()
    cut = rng.randrange(2, len(event_rows))
    steps = [("tracks", body) for body in _parts(tracks, 7, rng)]
    steps += [
        ("events", ("\n".join(event_rows[:cut]) + "\n").encode()),
        ("events", ("\n".join(event_rows[:1] + event_rows[cut:]) + "\n").encode()),
        ("sites", SITES.read_bytes()),
    ]
    rng.shuffle(steps)
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    for number, (kind, body) in enumerate(steps):
        answer = upload(store, kind, body, suffix=".csv", idempotency_key=f"{seed}-{number}")
        assert all(p["state"] == "pending" for p in answer["patrols"])
        if rng.random() < 0.5:  # sometimes a worker catches up between uploads, in small batches
            Worker(store, batch=rng.choice([1, 3, 50])).run_once()
    drain(store, batch=rng.choice([2, 5, 64]))

    docs, event_flags, entries, left = _stored(store)
    assert left == 0
    assert sorted(docs) == sorted(expected_docs)
    for patrol_id, doc in expected_docs.items():
        assert docs[patrol_id] == doc, patrol_id
    assert event_flags == expected_events
    # The sample day has settled, so credit that partial uploads earned (or lost) went to the ledger
    # as it changed; what stands in the end is each patrol's batch credit.
    net: dict[str, float] = {}
    for patrol_id, points in entries:
        net[patrol_id] = net.get(patrol_id, 0) + points
    assert {p: n for p, n in net.items() if n} == {
        p: d["credit"]["points"]
        for p, d in expected_docs.items()
        if d["credit"]["status"] == "verified" and d["credit"]["points"] > 0
    }


def test_an_upload_answers_pending_then_get_patrol_says_current(client, auth, upload, with_grids):
    pending = upload("tracks", SAMPLES / "honest_M001.csv", wait=0)
    assert pending.status_code == 201
    assert pending.json["patrols"] == [{"patrol_id": "M001_20261102", "state": "pending"}]
    # Nothing verified yet: the patrol does not exist.
    assert client.get("/api/v1/patrols/M001_20261102", headers=auth["admin"]).status_code == 404
    again = upload("tracks", SAMPLES / "honest_M001.csv", wait=30)  # a repeat that waits: verified now
    assert again.json["replayed"] is True
    assert again.json["patrols"] == [
        {"patrol_id": "M001_20261102", "state": "current", "credit": {"status": "verified", "points": 5}}
    ]
    doc = client.get("/api/v1/patrols/M001_20261102", headers=auth["admin"]).json
    assert doc["state"] == "current" and doc["credit"] == {"status": "verified", "points": 5}
    # New fixes for the day: the stored result stays readable and says it is pending.
    header, *rows = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    late = rows[-1].replace("16:29:50", "16:30:00")
    assert upload("tracks", f"{header}\n{late}\n".encode(), wait=0).status_code == 201
    doc = client.get("/api/v1/patrols/M001_20261102", headers=auth["admin"]).json
    assert doc["state"] == "pending" and doc["credit"] == {"status": "verified", "points": 5}
    listed = client.get("/api/v1/patrols?member_id=M001", headers=auth["admin"]).json["patrols"]
    assert [p["state"] for p in listed] == ["pending"]


def _prepare_around(store, key):
    from geoverify.store.neighbours import read_around
    from geoverify.store.verification import prepare

    with store.read() as conn:
        prepared = prepare(store, conn, {key})
        return prepared, read_around(store, conn, prepared)


def _duplicate_codes(store, patrol_id: str) -> list[str]:
    with store.read() as conn:
        doc = json.loads(conn.execute(select(patrols.c.document).where(patrols.c.patrol_id == patrol_id)).scalar_one())
    return [f["evidence"]["kind"] for f in doc["flags"] if f["code"] == "DUPLICATE_TRACK"]


def test_partners_compared_on_snapshots_side_by_side_still_find_the_two_phones(store):
    """Workers compare a member-day with other members' tracks on their read snapshot, outside the
    writer lock. M008 and M009 (one person, two phones) are measured side by side, neither seeing
    the other's track; M009 is written first. Under the lock M008's snapshot comparison is found
    stale (M009's track changed since and is a candidate), so it is compared again there: both end
    with the two-phones flag, as the batch gives them."""
    from geoverify.store.neighbours import compare_prepared, still_around
    from geoverify.store.verification import write_prepared

    day = pd.Timestamp("2026-11-02").date()
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    for member in ("M008", "M009"):
        upload(store, "tracks", (SAMPLES / f"duplicate_track_{member}.csv").read_bytes(), suffix=".csv")
    expected, _ = _batch(store, [SAMPLES / "duplicate_track_M008.csv", SAMPLES / "duplicate_track_M009.csv"])
    assert [f["code"] for f in expected["M008_20261102"]["flags"]].count("DUPLICATE_TRACK") == 1

    first, first_around = _prepare_around(store, ("M008", day))
    second, second_around = _prepare_around(store, ("M009", day))
    stale = compare_prepared(store, None, first, first_around)
    assert stale.partners.get(("M008", day), set()) == set()  # the snapshot did not see M009's track

    with store.write() as conn:
        assert still_around(store, conn, second_around, second)  # nothing changed since its snapshot
        write_prepared(store, conn, second, found=compare_prepared(store, None, second, second_around))
    with store.write() as conn:
        assert not still_around(store, conn, first_around, first)  # M009's track is new, and a candidate
        write_prepared(store, conn, first)  # compared again under the lock
    drain(store)  # M009, enqueued as M008's new partner

    assert _duplicate_codes(store, "M008_20261102") == ["two_phones"]
    assert _duplicate_codes(store, "M009_20261102") == ["two_phones"]
    docs, _, _, left = _stored(store)
    assert left == 0
    for patrol_id in ("M008_20261102", "M009_20261102"):  # the batch also had the sample sites
        assert docs[patrol_id]["flags"] == expected[patrol_id]["flags"]
        assert docs[patrol_id]["credit"] == expected[patrol_id]["credit"]


def test_a_change_far_from_a_snapshot_keeps_its_comparison(store):
    """A day track that changed since the snapshot but meets no cell of the member-day (another
    grid's member) leaves the comparison made outside the lock as it is: only changes near the
    track make a worker compare again."""
    from geoverify.store.neighbours import still_around

    day = pd.Timestamp("2026-11-02").date()
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    for name in ("duplicate_track_M008.csv", "duplicate_track_M009.csv", "honest_M001.csv"):
        upload(store, "tracks", (SAMPLES / name).read_bytes(), suffix=".csv")
    drain(store, keys=[("M008", day), ("M009", day)])
    prepared, around = _prepare_around(store, ("M008", day))
    assert around.candidates[("M008", day)] == {"M009"}
    drain(store)  # M001's day track is stored now: a change since the snapshot, far from M008
    with store.read() as conn:
        from geoverify.store.track_index import changed_since

        assert ("M001", day) in changed_since(conn, around.mark)
    with store.write() as conn:
        assert still_around(store, conn, around, prepared)
