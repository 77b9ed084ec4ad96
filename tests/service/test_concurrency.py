"""Parallel uploaders and a scorer following the credit feed, against a real ``geoverify serve``.

SQLite only: the server process runs on a fresh SQLite file (the PostgreSQL store is covered by
the in-process service tests). Bounded: 6 uploader threads x 2 members x 2 uploads each.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections import Counter

import pytest

from .conftest import NOW
from .server import ServerProcess, create_token, grids_with_members, patrol_csv, run_cli

UPLOADERS, MEMBERS_EACH = 6, 2
FIRST_HALF, SECOND_HALF = slice(0, 900), slice(900, None)


def _member(thread: int, k: int) -> str:
    return f"C{thread}{k}"


def _day(thread: int, k: int) -> dt.date:
    # A distinct day per member: a day's re-verification then holds one patrol.
    return dt.date(2026, 10, 31) - dt.timedelta(days=3 * (thread * MEMBERS_EACH + k))


@pytest.fixture
def live(tmp_path):
    """A fresh SQLite store with grids (the test's members in DC-01), tokens, and a running server."""
    url = f"sqlite:///{tmp_path / 'geoverify.db'}"
    members = [_member(t, k) for t in range(UPLOADERS) for k in range(MEMBERS_EACH)]
    run_cli(["load", "grids", str(grids_with_members(tmp_path / "grids.geojson", members))], url, NOW)
    tokens = {role: create_token(url, role, f"c-{role}") for role in ("admin", "scorer", "auditor")}
    with ServerProcess(url, tmp_path / "server.log", now=NOW, threads=8) as server:
        yield server, tokens, tmp_path / "geoverify.db"


@pytest.mark.slow
def test_parallel_uploads_and_a_scorer_see_the_same_ledger(live):
    server, tokens, database = live
    statuses: Counter = Counter()
    failures: list[str] = []
    uploads_done = threading.Event()
    seen: list[dict] = []
    lock = threading.Lock()

    def uploader(thread: int) -> None:
        try:
            for k in range(MEMBERS_EACH):
                patrol = [(_member(thread, k), _day(thread, k))]
                # The morning first (under 2 h: 0 points, nothing in the ledger), then the afternoon:
                # the second upload makes the patrol earn points, so grants land while the scorer reads.
                for name, part in (("am", FIRST_HALF), ("pm", SECOND_HALF)):
                    status, _, body = server.request(
                        "POST",
                        "/tracks",
                        token=tokens["admin"],
                        body=patrol_csv(patrol, part),
                        content_type="text/csv",
                        headers={"Idempotency-Key": f"{patrol[0][0]}-{name}"},
                    )
                    with lock:
                        statuses[status] += 1
                    if status != 201:
                        failures.append(f"{patrol[0][0]} {name}: {status} {body[:300]!r}")
        except Exception as exc:  # noqa: BLE001 -- a thread's failure is reported by the assertion below
            failures.append(f"uploader {thread}: {exc!r}")

    def scorer() -> None:
        cursor = 0
        try:
            while True:
                finished = uploads_done.is_set()
                status, _, body = server.request("GET", f"/credits?after={cursor}&limit=5", token=tokens["scorer"])
                with lock:
                    statuses[status] += 1
                if status != 200:
                    failures.append(f"feed after={cursor}: {status} {body[:300]!r}")
                    return
                page = json.loads(body)
                seen.extend(page["entries"])
                cursor = page["next"]
                if finished and not page["entries"]:
                    return
        except Exception as exc:  # noqa: BLE001 -- a thread's failure is reported by the assertion below
            failures.append(f"scorer: {exc!r}")

    threads = [threading.Thread(target=uploader, args=(t,)) for t in range(UPLOADERS)]
    reader = threading.Thread(target=scorer)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    uploads_done.set()
    reader.join(timeout=120)
    assert not reader.is_alive() and not any(t.is_alive() for t in threads)
    assert failures == []
    assert not [s for s in statuses if s >= 500]
    assert statuses[201] == UPLOADERS * MEMBERS_EACH * 2

    # The ledger as the API shows it from the start, and as the store holds it.
    status, whole = server.json("GET", "/credits?after=0&limit=1000", token=tokens["scorer"])
    assert status == 200
    with sqlite3.connect(database) as conn:
        stored = conn.execute("SELECT seq, credit_id, points, patrol_id, kind FROM ledger ORDER BY seq").fetchall()
        patrols = conn.execute("SELECT patrol_id, credit_status, points FROM patrols").fetchall()
    # Nothing missed, nothing repeated, in seq order with no holes.
    assert [e["seq"] for e in seen] == list(range(1, len(stored) + 1))
    assert [e["credit_id"] for e in seen] == [e["credit_id"] for e in whole["entries"]] == [r[1] for r in stored]
    assert len({e["credit_id"] for e in seen}) == len(seen)
    assert sum(e["points"] for e in seen) == sum(e["points"] for e in whole["entries"]) == sum(r[2] for r in stored)
    # Each patrol's entries add up to its current credit; a patrol that earns points has exactly one
    # live grant, any other none (0-point credits are not written).
    assert len(patrols) == UPLOADERS * MEMBERS_EACH
    points: Counter = Counter()
    live: Counter = Counter()
    for entry in seen:
        points[entry["patrol_id"]] += entry["points"]
        live[entry["patrol_id"]] += 1 if entry["kind"] == "grant" else -1
    assert {p: points[p] for p, _, _ in patrols} == {p: v if s == "verified" else 0 for p, s, v in patrols}
    assert {p: live[p] for p, _, _ in patrols} == {p: int(s == "verified" and v > 0) for p, s, v in patrols}
    patrols_n = UPLOADERS * MEMBERS_EACH
    assert Counter(e["kind"] for e in seen) == {"grant": patrols_n}
    assert all(s == "verified" for _, s, _ in patrols)
    # The audit chain is intact after the parallel writes.
    status, check = server.json("GET", "/audit/verify", token=tokens["auditor"])
    assert status == 200 and check["ok"] is True
