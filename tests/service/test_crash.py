"""Crash safety: SIGKILL the real ``geoverify serve`` mid-upload and mid-ledger-append, restart it.

SQLite only (a server process on a fresh SQLite file). The kill is aimed without any test hook:
the test watches the store's single writer lock from outside (an SQLite ``BEGIN IMMEDIATE``
probe that fails while the server's upload transaction is open) and kills at several points
inside that transaction, and once while the request body is still arriving. After each restart:
nothing of a killed upload is stored or all of it is, every ledger entry has its audit entry and
every patrol's entries add up to its credit, ``geoverify audit verify`` passes, uploads answered
before the kill are all there, and sending the killed upload again completes exactly once.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from geoverify.store.upload_files import UPLOAD_PREFIX, remove_stale_upload_folders

from .conftest import NOW
from .server import ServerProcess, create_token, grids_with_members, patrol_csv, run_cli

PATROLS_PER_UPLOAD = 8  # 14,400 fixes: verifying them keeps the writer busy for a while
KILL_FRACTIONS = (0.0, 0.3, 0.6)  # of a calibrated upload's duration, after the lock is seen
FIRST_HALF, SECOND_HALF = slice(0, 900), slice(900, None)


def _upload_patrols(round_: int) -> list[tuple[str, dt.date]]:
    """Distinct members and days for one upload (``K<round><n>``)."""
    return [
        (f"K{round_}{n}", dt.date(2026, 10, 1) - dt.timedelta(days=40 * round_ + 3 * n))
        for n in range(PATROLS_PER_UPLOAD)
    ]


def writer_busy(database: Path) -> bool:
    """Whether some connection holds the store's writer lock (an open write transaction) now."""
    conn = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    finally:
        conn.close()


def stored(database: Path, members: list[str]) -> dict:
    """What the store shows of ``members``: fixes of stored uploads (the parts of an upload still being
    stored, or left by a killed one, are invisible until complete), patrols, ledger entries, member-days
    queued."""
    marks = ",".join("?" * len(members))
    with sqlite3.connect(database) as conn:
        fixes = conn.execute(
            f"SELECT count(*) FROM fixes JOIN uploads ON uploads.upload_id = fixes.upload_id "
            f"WHERE uploads.state = 'stored' AND fixes.member_id IN ({marks})",
            members,
        ).fetchone()[0]
        patrols = conn.execute(f"SELECT count(*) FROM patrols WHERE member_id IN ({marks})", members).fetchone()[0]
        entries = conn.execute(f"SELECT kind, patrol_id FROM ledger WHERE member_id IN ({marks})", members).fetchall()
        queued = conn.execute(f"SELECT count(*) FROM work WHERE member_id IN ({marks})", members).fetchone()[0]
    return {"fixes": fixes, "patrols": patrols, "entries": entries, "queued": queued}


def assert_consistent(database: Path, url: str) -> None:
    """No half upload, no half ledger entry, and an intact audit chain."""
    with sqlite3.connect(database) as conn:
        ledger = conn.execute(
            "SELECT seq, credit_id, kind, reverses, patrol_id, points FROM ledger ORDER BY seq"
        ).fetchall()
        audited = dict(conn.execute("SELECT object_id, action FROM audit_log WHERE action LIKE 'credit.%'").fetchall())
        patrols = conn.execute("SELECT patrol_id, credit_status, points FROM patrols").fetchall()
        uploads = conn.execute("SELECT upload_id, response FROM uploads WHERE kind = 'tracks'").fetchall()
        unfinished = conn.execute("SELECT count(*) FROM uploads WHERE state <> 'stored'").fetchone()[0]
        per_upload = dict(conn.execute("SELECT upload_id, count(*) FROM fixes GROUP BY upload_id").fetchall())
    assert [row[0] for row in ledger] == list(range(1, len(ledger) + 1))
    # Every ledger entry was audited in its own transaction, and nothing else was.
    assert audited == {credit_id: f"credit.{kind}" for _, credit_id, kind, _, _, _ in ledger}
    grants = {credit_id: patrol for _, credit_id, kind, _, patrol, _ in ledger if kind == "grant"}
    assert all(grants.get(reverses) == patrol for _, _, kind, reverses, patrol, _ in ledger if kind == "reversal")
    points, live = Counter(), Counter()
    for _, _, kind, _, patrol, value in ledger:
        points[patrol] += value
        live[patrol] += 1 if kind == "grant" else -1
    assert {p: points[p] for p, _, _ in patrols} == {p: v if s == "verified" else 0 for p, s, v in patrols}
    assert {p: live[p] for p, _, _ in patrols} == {p: int(s == "verified") for p, s, _ in patrols}
    # An upload row exists only with all of its fixes (and its final response): the parts of one the
    # kill left storing were discarded when the server started again.
    assert unfinished == 0
    for upload_id, response in uploads:
        assert per_upload.get(upload_id, 0) == json.loads(response)["fixes_stored"]
    assert run_cli(["audit", "verify"], url).startswith("audit log OK")


def send_tracks(server: ServerProcess, token: str, body: bytes, key: str) -> tuple[int, dict]:
    """POST /tracks with an Idempotency-Key; (status, answer)."""
    status, _, data = server.request(
        "POST",
        "/tracks",
        token=token,
        body=body,
        content_type="text/csv",
        headers={"Idempotency-Key": key},
        timeout=300,
    )
    return status, json.loads(data)


def post_tracks(server: ServerProcess, token: str, body: bytes, key: str, outcome: list) -> None:
    """POST /tracks; appends (status, answer) to ``outcome``, or the connection error."""
    try:
        outcome.append(send_tracks(server, token, body, key))
    except (OSError, http.client.HTTPException) as exc:
        outcome.append((None, repr(exc)))


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store with the grids (the test's members in DC-01) and tokens; each test starts the server."""
    database = tmp_path / "geoverify.db"
    url = f"sqlite:///{database}"
    members = [m for r in range(len(KILL_FRACTIONS) + 2) for m, _ in _upload_patrols(r)]
    members += [f"W{t}{k}" for t in range(6) for k in range(3)]
    run_cli(["load", "grids", str(grids_with_members(tmp_path / "grids.geojson", members))], url, NOW)
    tokens = {role: create_token(url, role, f"crash-{role}") for role in ("admin", "scorer")}
    return database, url, tokens, tmp_path / "server.log"


def _exactly_once(server: ServerProcess, token: str, patrols, body: bytes, key: str, database: Path) -> None:
    """Send the upload again (twice): it lands once, and each patrol has one grant in the feed."""
    members = [m for m, _ in patrols]
    before = stored(database, members)
    status, answer = send_tracks(server, token, body, key)
    # 201 when the killed upload left nothing; 200 (a replay) when it had committed before the kill.
    assert (status, answer["replayed"]) == ((201, False) if before["fixes"] == 0 else (200, True)), answer
    status, answer = send_tracks(server, token, body, key)
    assert (status, answer["replayed"]) == (200, True)
    after = stored(database, members)
    assert after["fixes"] == 1800 * len(patrols) and after["patrols"] == len(patrols)
    assert Counter(after["entries"]) == Counter(("grant", f"{m}_{d:%Y%m%d}") for m, d in patrols)


@pytest.mark.slow
def test_sigkill_mid_upload_stores_all_or_nothing(store):
    database, url, tokens, log = store
    admin = tokens["admin"]
    server = ServerProcess(url, log, now=NOW).start()
    try:
        # Calibrate: how long the writer transaction of one such upload lasts on this machine.
        calibration = _upload_patrols(len(KILL_FRACTIONS) + 1)
        began = time.monotonic()
        outcome: list = []
        post_tracks(server, admin, patrol_csv(calibration), "crash-calibration", outcome)
        duration = time.monotonic() - began
        assert outcome[0][0] == 201

        # Kill point 1: while the body is still arriving (the app has not seen the request yet).
        patrols = _upload_patrols(0)
        body = patrol_csv(patrols)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.putrequest("POST", "/api/v1/tracks")
        for name, value in (
            ("Authorization", f"Bearer {admin}"),
            ("Content-Type", "text/csv"),
            ("Content-Length", str(len(body))),
            ("Idempotency-Key", "crash-0"),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body[: len(body) // 2])
        time.sleep(0.5)
        server.kill()
        conn.close()
        assert stored(database, [m for m, _ in patrols]) == {"fixes": 0, "patrols": 0, "entries": [], "queued": 0}
        server.start()
        assert_consistent(database, url)
        _exactly_once(server, admin, patrols, body, "crash-0", database)

        # Kill points 2..: inside the upload's writer transaction, at growing delays.
        mid_transaction = []
        for round_, fraction in enumerate(KILL_FRACTIONS, start=1):
            patrols = _upload_patrols(round_)
            body, key = patrol_csv(patrols), f"crash-{round_}"
            outcome = []
            sender = threading.Thread(target=post_tracks, args=(server, admin, body, key, outcome))
            sender.start()
            deadline = time.monotonic() + 120
            while not writer_busy(database):
                assert not outcome, f"the upload ended before it was seen holding the writer lock: {outcome}"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(fraction * duration)
            busy = writer_busy(database)
            server.kill()
            sender.join(timeout=60)
            members = [m for m, _ in patrols]
            found = stored(database, members)
            # All or nothing: the killed upload's fixes are all there, with their member-days queued
            # or verified (each verified one with its grant), or none of it is.
            assert found["fixes"] in (0, 1800 * len(patrols))
            if found["fixes"] == 0:
                assert (found["patrols"], len(found["entries"]), found["queued"]) == (0, 0, 0)
            else:
                assert found["queued"] + found["patrols"] >= len(patrols)
                assert len(found["entries"]) == found["patrols"]
            mid_transaction.append(busy and found["fixes"] == 0)
            server.start()
            assert_consistent(database, url)
            _exactly_once(server, admin, patrols, body, key, database)
        # The kill landed inside the open transaction at least once (it was rolled back on restart).
        assert mid_transaction[0] and any(mid_transaction)
    finally:
        server.stop()


@pytest.mark.slow
def test_sigkill_during_parallel_ledger_appends(store):
    database, url, tokens, log = store
    admin, scorer = tokens["admin"], tokens["scorer"]
    server = ServerProcess(url, log, now=NOW).start()
    answered: list = []  # (key, status) of uploads answered before the kill
    seen: list[dict] = []  # entries the scorer applied, across the crash
    cursor = 0
    stop = threading.Event()

    def uploads(thread: int, srv: ServerProcess) -> None:
        for k in range(3):
            patrol = [(f"W{thread}{k}", dt.date(2026, 9, 1) - dt.timedelta(days=3 * (thread * 3 + k)))]
            for name, part in (("am", FIRST_HALF), ("pm", SECOND_HALF)):
                if stop.is_set():
                    return
                outcome: list = []
                key = f"W{thread}{k}-{name}"
                post_tracks(srv, admin, patrol_csv(patrol, part), key, outcome)
                if outcome[0][0] is None:
                    return
                answered.append((key, outcome[0][0]))

    def pull(srv: ServerProcess) -> None:
        nonlocal cursor
        while True:
            status, page = srv.json("GET", f"/credits?after={cursor}&limit=4", token=scorer)
            assert status == 200
            seen.extend(page["entries"])
            if page["next"] == cursor:
                return
            cursor = page["next"]

    try:
        threads = [threading.Thread(target=uploads, args=(t, server)) for t in range(6)]
        for thread in threads:
            thread.start()
        # Once the ledger has grown, the scorer catches up; then kill as soon as an upload's
        # transaction is open again.
        deadline = time.monotonic() + 300
        while True:
            with sqlite3.connect(database) as conn:
                if conn.execute("SELECT count(*) FROM ledger").fetchone()[0] >= 8:
                    break
            assert time.monotonic() < deadline and any(t.is_alive() for t in threads)
            time.sleep(0.05)
        pull(server)
        while not writer_busy(database):
            assert time.monotonic() < deadline and any(t.is_alive() for t in threads)
            time.sleep(0.002)
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        acknowledged = [key for key, status in answered if status == 201]
        assert len(acknowledged) >= 4

        server.start()
        assert_consistent(database, url)
        # Every upload answered 201 before the kill survived it.
        with sqlite3.connect(database) as conn:
            keys = {row[0] for row in conn.execute("SELECT idempotency_key FROM uploads")}
        assert set(acknowledged) <= keys
        # The scorer resumes from its cursor: nothing it saw changed or vanished.
        status, again = server.json("GET", f"/credits?after=0&limit={max(len(seen), 1)}", token=scorer)
        assert [e["credit_id"] for e in again["entries"]][: len(seen)] == [e["credit_id"] for e in seen]

        # Send every upload again (same keys): each lands exactly once.
        stop.clear()
        threads = [threading.Thread(target=uploads, args=(t, server)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        pull(server)
        assert_consistent(database, url)
        assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
        kinds: Counter = Counter()
        for entry in seen:
            kinds[entry["patrol_id"], entry["kind"]] += 1
        patrol_ids = {
            f"W{t}{k}_{dt.date(2026, 9, 1) - dt.timedelta(days=3 * (t * 3 + k)):%Y%m%d}"
            for t in range(6)
            for k in range(3)
        }
        # The morning earns 0 points (nothing written); the afternoon's grant lands once per patrol.
        assert {p: (kinds[p, "grant"], kinds[p, "reversal"]) for p in patrol_ids} == dict.fromkeys(patrol_ids, (1, 0))
        assert sum(e["points"] for e in seen) == sum(
            e["points"] for e in server.json("GET", "/credits?after=0&limit=1000", token=scorer)[1]["entries"]
        )
    finally:
        stop.set()
        server.stop()


def test_upload_folders_of_dead_processes_are_removed_at_start(tmp_path):
    """A server killed while it parsed an upload leaves its temporary folder; the next start deletes
    it, and keeps the folders of processes that still run."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = tmp_path / f"{UPLOAD_PREFIX}{int(finished.stdout)}-abc"
    live = tmp_path / f"{UPLOAD_PREFIX}{os.getpid()}-def"
    other = tmp_path / "geoverify-upload-notapid"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "upload.csv").write_text("member_id,time,lon,lat\n")
    assert remove_stale_upload_folders(str(tmp_path)) == 1
    assert not dead.exists() and live.exists() and other.exists()
