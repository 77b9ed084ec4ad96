"""Verification workers: claims are leases, a worker that dies loses nothing, a result computed
before newer input arrived is never stored, and `geoverify worker` processes beside a server that
runs none verify everything (SQLite and PostgreSQL: ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

import pytest
from sqlalchemy import select, update

from geoverify.store import queue
from geoverify.store.ingest import upload
from geoverify.store.schema import patrols, work
from geoverify.store.verification import prepare
from geoverify.store.worker import Worker, release_orphans

from .conftest import GRIDS, NOW, SAMPLES
from .server import ServerProcess, cli_env, create_token, geoverify_command, grids_with_members, patrol_csv, run_cli

DAY = dt.date(2026, 11, 2)


def _loaded(store) -> None:
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    upload(store, "tracks", (SAMPLES / "honest_M001.csv").read_bytes(), suffix=".csv")


def _credit(store, patrol_id: str):
    with store.read() as conn:
        row = conn.execute(
            select(patrols.c.credit_status, patrols.c.points).where(patrols.c.patrol_id == patrol_id)
        ).first()
    return None if row is None else (row.credit_status, row.points)


def test_a_dead_workers_claim_is_taken_again_after_its_lease(store):
    _loaded(store)
    dead = Worker(store, lease_s=1.0)
    claims = queue.claim(store, dead.name, lease_s=1.0)  # claimed, then the worker "dies"
    assert [c.key for c in claims] == [("M001", DAY)]
    other = Worker(store)
    assert other.run_once() == []  # held by the lease
    time.sleep(1.1)
    [written] = other.run_once()
    assert (written["patrol_id"], written["credit"]) == ("M001_20261102", {"status": "verified", "points": 5})
    with store.read() as conn:
        assert queue.status(conn)["pending"] == 0


def test_claims_of_dead_processes_on_this_machine_are_released_at_start(store):
    _loaded(store)
    from geoverify.store.worker import host_name

    with store.write() as conn:  # a worker process of this machine that no longer runs
        conn.execute(
            update(work).values(claimed_by=f"{host_name()}:999999999:abcdef", claimed_until_ns=queue.now_ns() + 10**12)
        )
    assert Worker(store).run_once() == []
    assert release_orphans(store) == 1
    assert len(Worker(store).run_once()) == 1


def test_a_result_computed_before_newer_input_is_not_stored(store):
    _loaded(store)
    worker = Worker(store)
    claims = queue.claim(store, worker.name)
    with store.read() as conn:
        prepared = prepare(store, conn, {c.key for c in claims})
    # Meanwhile the rest of the day arrives (the sample holds 08:30-16:30; add 16:30-16:40).
    header, *rows = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    later = [r.replace("2026-11-02T16:", "2026-11-02T17:", 1) for r in rows[-60:]]
    upload(store, "tracks", ("\n".join([header] + later) + "\n").encode(), suffix=".csv")
    with store.write() as conn:
        assert queue.still_mine(conn, claims, worker.name) == []
        queue.finish(conn, worker.name, done=[], released=claims)
    assert prepared.keys == {("M001", DAY)} and _credit(store, "M001_20261102") is None
    [written] = Worker(store).run_once()  # the next claim sees every fix
    with store.read() as conn:
        doc = json.loads(conn.execute(select(patrols.c.document)).scalar_one())
    assert doc["fixes"]["kept"] == 1800 + 60 and written["changed"] is True


@pytest.mark.slow
def test_worker_processes_beside_a_server_without_workers(tmp_path, database_url):
    members = [f"P{n:02d}" for n in range(8)]
    run_cli(["load", "grids", str(grids_with_members(tmp_path / "grids.geojson", members))], database_url, NOW)
    admin = create_token(database_url, "admin", "w-admin")
    with ServerProcess(database_url, tmp_path / "server.log", now=NOW, workers=0) as server:
        # One sample day each, on different days (the same walk on one day would be one person
        # carrying eight phones).
        days = {member: DAY - dt.timedelta(days=n) for n, member in enumerate(members)}
        ids = sorted(f"{m}_{d:%Y%m%d}" for m, d in days.items())
        for member, day in days.items():
            status, answer = server.json(
                "POST",
                "/tracks",
                token=admin,
                body=patrol_csv([(member, day)]),
                content_type="text/csv",
                headers={"Prefer": "wait=0"},
            )
            assert status == 201 and answer["patrols"] == [{"patrol_id": f"{member}_{day:%Y%m%d}", "state": "pending"}]
        time.sleep(0.5)
        status, page = server.json("GET", "/patrols?limit=100", token=admin)
        assert page["total"] == 0  # nobody verifies: the server runs no worker
        workers = subprocess.run(
            geoverify_command() + ["worker", "--processes", "2", "--drain", "--batch", "3"],
            env=cli_env(database_url, NOW),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert workers.returncode == 0, workers.stderr
        assert "verified 8 member-day(s)" in workers.stderr, workers.stderr
        # Each member's day is a different date: no track near another's, nothing compared again.
        assert "; 0 compared again under the writer lock" in workers.stderr, workers.stderr
        status, page = server.json("GET", "/patrols?limit=100", token=admin)
        assert sorted((p["patrol_id"], p["state"], p["credit"]["points"]) for p in page["patrols"]) == [
            (pid, "current", 5) for pid in ids
        ]
        status, feed = server.json("GET", "/credits?after=0&limit=100", token=admin)
        assert sorted(e["patrol_id"] for e in feed["entries"]) == ids
