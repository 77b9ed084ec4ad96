"""What must hold the same on SQLite and PostgreSQL: bulk-inserted fixes come back exactly (COPY
on PostgreSQL), concurrent writers get gap-free sequence numbers under the writer lock, the audit
chain verifies, and a read sees one snapshot."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from geoverify.store import audit, audit_verify
from geoverify.store.bulk import insert_rows
from geoverify.store.db import normalise_url
from geoverify.store.frames import fix_frame
from geoverify.store.schema import fixes, uploads


def _upload_row(conn) -> int:
    return conn.execute(
        insert(uploads)
        .values(
            kind="tracks",
            content_sha256="0" * 64,
            request_sha256="0" * 64,
            actor="test",
            created_at="2026-11-02T00:00:00+00:00",
            response="{}",
        )
        .returning(uploads.c.upload_id)
    ).scalar_one()


def test_bulk_fixes_come_back_exactly(store):
    """Text that COPY must escape, NULLs, booleans, 64-bit times and full-precision floats."""
    t0 = pd.Timestamp("2026-11-02T08:00:00.123456789Z").value  # 1.8e18 ns: needs 64 bits
    awkward = ["tab\there", "new\nline", "back\\slash", 'quote"s', "逗号,分号;", r"\N", ""]
    rows = [
        {
            "member_id": f"成员-{i % 3}",
            "time_ns": t0 + i,
            "lon": 116.4 + i * 1e-13,
            "lat": 39.9 + 1 / (i + 3),
            "accuracy": None if i % 2 else 4.25,
            "speed": None,
            "provider": "gps",
            "mock": [True, False, None][i % 3],
            "device_id": awkward[i % len(awkward)],
            "crs": "gcj02",
            "source": awkward[(i + 1) % len(awkward)],
            "line": i + 2,
        }
        for i in range(50)
    ]
    with store.write() as conn:
        upload_id = _upload_row(conn)
        for row in rows:
            row["upload_id"] = upload_id
        assert insert_rows(conn, fixes, rows) == 50
    with store.read() as conn:
        stored = {r.time_ns: r._mapping for r in conn.execute(select(fixes))}
    assert len(stored) == 50
    for row in rows:
        back = stored[row["time_ns"]]
        assert {k: back[k] for k in row} == row
    with store.read() as conn:
        frame = fix_frame(conn, [(t0, t0 + 50)])
    assert frame["time"].iloc[0].value == t0 and frame["mock"].isna().sum() == 16


def test_a_failed_bulk_insert_leaves_nothing(store):
    """A duplicate (member, time) aborts the whole transaction on both databases."""
    row = {"member_id": "M1", "time_ns": 1, "lon": 116.4, "lat": 39.9, "crs": "wgs84", "source": "x.csv", "line": 2}
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        with store.write() as conn:
            upload_id = _upload_row(conn)
            insert_rows(conn, fixes, [{**row, "upload_id": upload_id}, {**row, "line": 3, "upload_id": upload_id}])
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(fixes)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(uploads)).scalar_one() == 0


def test_concurrent_writers_get_gap_free_audit_seq(store):
    """Four threads append 15 audit entries each, every one in its own writer transaction: the
    writer lock (BEGIN IMMEDIATE / advisory lock) gives seq 1..60 with no hole and a valid chain."""
    errors = []

    def writer(name):
        try:
            for i in range(15):
                with store.write() as conn:
                    audit.append(conn, name, "test.append", "test", str(i), {"i": i, "x": 0.1 * i})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.read() as conn:
        seqs = [r[0] for r in conn.exec_driver_sql("SELECT seq FROM audit_log ORDER BY seq")]
        result = audit_verify.verify(conn)
    assert seqs == list(range(1, 61))
    assert result["ok"] and result["entries"] == 60


def test_audit_detail_text_is_byte_identical(store):
    """The hashed detail (floats, non-ASCII) is stored as text and read back unchanged."""
    detail = {"verified_s": 1234.5678901234567, "points": 0.1 + 0.2, "note": "东城 网格"}
    with store.write() as conn:
        entry = audit.append(conn, "cli", "test.detail", "test", "1", detail)
    with store.read() as conn:
        row = conn.exec_driver_sql("SELECT detail, hash FROM audit_log WHERE seq = 1").one()
    assert row.detail == entry["detail"] == audit.canonical_json(detail)
    assert row.hash == entry["hash"] == audit.entry_hash(entry)


def test_a_read_is_one_snapshot(store):
    """A write committed during a read transaction is not seen by that transaction."""
    with store.read() as conn:
        before = audit.count(conn)
        with store.write() as writer:
            audit.append(writer, "cli", "test.snapshot", "test", None, {})
        assert audit.count(conn) == before == 0
    with store.read() as conn:
        assert audit.count(conn) == 1


def test_postgresql_urls_use_psycopg3():
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_text_postgresql_cannot_hold_is_refused_alike(with_grids, upload, assert_problem, db_execute):
    """A member id over the column's 100 characters, or a NUL in a device id: 422 naming the file and
    line on both databases (SQLite alone would store them), and nothing stored."""
    long_id = "M" * 101
    body = (
        "member_id,time,lon,lat\nM001,2026-11-02T08:00:00+08:00,116.41,39.94\n"
        f"{long_id},2026-11-02T08:00:10+08:00,116.41,39.94\n"
    )
    problem = assert_problem(upload("tracks", body.encode()), 422, detail_has="line 3")
    assert "member_id" in problem["detail"] and "at most 100" in problem["detail"] and "upload.csv" in problem["detail"]
    nul = "member_id,time,lon,lat,device_id\nM001,2026-11-02T08:00:00+08:00,116.41,39.94,ph\x00one\n"
    assert_problem(upload("tracks", nul.encode()), 422, detail_has="NUL character is not allowed in device_id")
    assert db_execute("SELECT count(*) FROM fixes") == [(0,)]


@pytest.mark.slow
def test_a_served_store_with_two_uploaders(database_url, tmp_path):
    """A real ``geoverify serve`` process on each database: two clients upload the same day at once
    (same Idempotency-Key), then M004's idle day; one copy is stored, the ledger has one grant per
    patrol with seq 1, 2, and ``geoverify audit verify`` accepts the chain."""
    import datetime as dt

    from .conftest import NOW, SAMPLES
    from .server import GRIDS as SERVER_GRIDS
    from .server import ServerProcess, create_token, patrol_csv, run_cli

    run_cli(["load", "grids", str(SERVER_GRIDS)], database_url, NOW)
    admin, scorer = (create_token(database_url, role, f"t-{role}") for role in ("admin", "scorer"))
    day = dt.date(2026, 11, 2)
    body = patrol_csv([("M001", day)])
    with ServerProcess(database_url, tmp_path / "server.log", now=NOW, threads=4) as server:
        answers = []

        def post(key, data):
            answers.append(
                server.json(
                    "POST", "/tracks", token=admin, body=data, content_type="text/csv", headers={"Idempotency-Key": key}
                )
            )

        clients = [threading.Thread(target=post, args=("same-day", body)) for _ in range(2)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=300)
        post("other", (SAMPLES / "idle_M004.csv").read_bytes())
        status, feed = server.json("GET", "/credits?after=0&limit=100", token=scorer)
    assert [s for s, _ in answers][2] == 201 and {s for s, _ in answers[:2]} <= {200, 201}
    assert sorted(a["replayed"] for _, a in answers[:2]) == [False, True]
    assert answers[0][1]["fixes_stored"] == answers[1][1]["fixes_stored"] == 1800
    assert status == 200
    assert [(e["seq"], e["patrol_id"], e["kind"]) for e in feed["entries"]] == [
        (1, "M001_20261102", "grant"),
        (2, "M004_20261102", "grant"),
    ]
    assert feed["entries"][0]["points"] == 5
    assert "ok" in run_cli(["audit", "verify"], database_url).lower()


def test_store_fixes_loads_in_bulk_once(store):
    """The bulk path stores a day's fixes once: a second load finds them all already stored."""
    from geoverify.io import read_track_file
    from geoverify.store.ingest import store_fixes

    from .conftest import SAMPLES

    frame = read_track_file(SAMPLES / "honest_M001.csv", tz=store.tz)
    first = store_fixes(store, frame, actor="test")
    again = store_fixes(store, frame, actor="test")
    assert (first["fixes_read"], first["fixes_stored"], first["accepted"], first["already_stored"]) == (
        1800,
        1800,
        1800,
        0,
    )
    assert (again["fixes_stored"], again["already_stored"], again["rejected"]["duplicate"]) == (0, 1800, 1800)
    assert "2026-11-02" in first["dates"]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(fixes)).scalar_one() == 1800
        sources = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT source FROM fixes")}
        assert audit_verify.verify(conn)["ok"]
    assert sources == {str(SAMPLES / "honest_M001.csv")}  # each fix keeps the file it was read from
