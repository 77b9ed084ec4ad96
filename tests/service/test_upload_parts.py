"""A big track upload stored in parts (issue #12), on SQLite and PostgreSQL.

The upload runs in a child process with small parts; once some parts are committed the test stops
the child (SIGSTOP), looks at what the service shows, retries the upload, and lets it finish or
kills it there (a crash between parts, or inside one). No hook in the code: the parts, the
transactions and the kill are the real ones.
"""

from __future__ import annotations

import datetime as dt
import math
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import case, func, select

from geoverify.errors import InputError
from geoverify.store import storing
from geoverify.store.db import Store
from geoverify.store.frames import fix_frame
from geoverify.store.ingest import upload
from geoverify.store.schema import audit_log, fixes, flags, ledger, patrols, uploads, work
from geoverify.store.verification import prepare

from .conftest import GRIDS, NOW, SAMPLES, SQLITE_FILE
from .server import cli_env, grids_with_members, patrol_csv

DAY = dt.date(2026, 11, 2)
MEMBERS = [f"P{k}" for k in range(1, 7)]
PART_FIXES = 300
KEY = "big-upload-1"
# The child: one track upload of the body file, parts of PART_FIXES fixes, as the admin token's actor.
CHILD = """
import sys
from pathlib import Path
from geoverify.store.db import Store
from geoverify.store.ingest import upload
url, now, part, body, key = sys.argv[1:6]
store = Store.open(url, now=now)
store.upload_part_fixes = int(part)
upload(store, "tracks", Path(body).read_bytes(), suffix=".csv", actor="test-admin", idempotency_key=key)
store.dispose()
"""


def _setup(client, auth, tmp_path: Path) -> bytes:
    """Grids (P1..P6 in DC-01), M001's first half-day verified; the big body: M001's whole day
    (its first half already stored) and P1..P6's days, 12,600 fixes (the test app takes 5,000 per
    upload: raised to 20,000 here)."""
    client.application.extensions["geoverify.store"].max_fixes_per_upload = 20_000
    grids = grids_with_members(tmp_path / "grids.geojson", MEMBERS)
    response = client.post(
        "/api/v1/grids", data=grids.read_bytes(), content_type="application/geo+json", headers=auth["admin"]
    )
    assert response.status_code == 201, response.json
    response = client.post(
        "/api/v1/tracks",
        data=patrol_csv([("M001", DAY)], slice(0, 900)),
        content_type="text/csv",
        headers={**auth["admin"], "Prefer": "wait=60"},
    )
    assert response.status_code == 201 and response.json["fixes_stored"] == 900, response.json
    return patrol_csv([("M001", DAY)] + [(m, DAY) for m in MEMBERS])


def _views(client, auth) -> dict:
    """What the service shows of the day: patrols, M001's map, the grid's heat map, the day overview."""
    return {
        "patrols": client.get(f"/api/v1/patrols?date={DAY}&limit=500", headers=auth["auditor"]).json,
        "map": client.get("/api/v1/map/patrols/M001_20261102/geojson", headers=auth["auditor"]).json,
        "heat": client.get(f"/api/v1/map/heatmap?grid_id=DC-01&date={DAY}", headers=auth["auditor"]).json,
        "day": client.get(f"/api/v1/map/day?date={DAY}", headers=auth["auditor"]).json,
    }


def _start_child(database_url: str, tmp_path: Path, body: bytes) -> subprocess.Popen:
    path = tmp_path / "big.csv"
    path.write_bytes(body)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, NOW, str(PART_FIXES), str(path), KEY],
        env=cli_env(database_url, NOW),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextmanager
def stopped_mid_upload(store, child: subprocess.Popen) -> Iterator[int]:
    """Stop the child (SIGSTOP) once its upload is ``storing`` with some parts committed; yields the
    upload's id, and lets the child go on (SIGCONT) after, unless it was killed meanwhile.

    The child stops between two parts or inside one (holding the writer lock, uncommitted);
    readers go on either way.
    """
    deadline = time.monotonic() + 120
    while True:
        assert child.poll() is None, f"the upload ended before it was seen storing: {child.communicate()}"
        assert time.monotonic() < deadline, "the upload was never seen storing"
        with store.read() as conn:
            row = conn.execute(select(uploads).where(uploads.c.idempotency_key == KEY)).first()
            count = (
                0
                if row is None
                else conn.execute(
                    select(func.count()).select_from(fixes).where(fixes.c.upload_id == row.upload_id)
                ).scalar_one()
            )
        if row is not None and row.state == storing.STORING and 0 < count < 11_700 - 3 * PART_FIXES:
            break
        time.sleep(0.001)
    child.send_signal(signal.SIGSTOP)
    try:
        with store.read() as conn:
            assert (
                conn.execute(select(uploads.c.state).where(uploads.c.upload_id == row.upload_id)).scalar_one()
                == storing.STORING
            )
        yield int(row.upload_id)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGCONT)


def _nothing_of_it_shows(store, client, auth, before: dict, upload_id: int) -> None:
    assert _views(client, auth) == before
    lo = int(dt.datetime(2026, 11, 1, 16, tzinfo=dt.UTC).timestamp() * 1e9)
    with store.read() as conn:
        # Readers of fixes see M001's first half only; verification measures M001's day as before.
        assert len(fix_frame(conn, [(lo, lo + 86_400 * 10**9)])) == 900
        measured = {p.member_id: p.verified_s for p in prepare(store, conn, {("M001", DAY), ("P1", DAY)}).part.patrols}
        stored_s = conn.execute(select(patrols.c.verified_s).where(patrols.c.patrol_id == "M001_20261102")).scalar_one()
        assert measured.get("M001") == pytest.approx(stored_s) and not measured.get("P1")
        # Nothing queued, nothing audited for it.
        queued = select(func.count()).select_from(work).where(work.c.member_id.in_(MEMBERS))
        assert conn.execute(queued).scalar_one() == 0
        assert (
            conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.object_type == "upload", audit_log.c.object_id == str(upload_id))
            ).scalar_one()
            == 0
        )


def test_parts_show_nothing_until_the_last_and_a_retry_meanwhile_answers_409(
    database_url, store, client, auth, tmp_path
):
    body = _setup(client, auth, tmp_path)
    before = _views(client, auth)
    child = _start_child(database_url, tmp_path, body)
    with stopped_mid_upload(store, child) as upload_id:
        _nothing_of_it_shows(store, client, auth, before, upload_id)
        # A retry (same key, or same content) while it is stored: 409 with Retry-After, naming it.
        for headers in ({"Idempotency-Key": KEY}, {}):
            retry = client.post(
                "/api/v1/tracks", data=body, content_type="text/csv", headers={**auth["admin"], **headers}
            )
            assert retry.status_code == 409 and retry.headers["Retry-After"] == "1", retry.json
            assert retry.json["title"] == "UploadInProgress" and retry.json["upload_id"] == upload_id
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err.decode()
    # Complete: the same request answers the stored upload; everything shows at once.
    again = client.post(
        "/api/v1/tracks",
        data=body,
        content_type="text/csv",
        headers={**auth["admin"], "Idempotency-Key": KEY, "Prefer": "wait=60"},
    )
    assert again.status_code == 200 and again.json["upload_id"] == upload_id and again.json["replayed"]
    assert (again.json["fixes_stored"], again.json["already_stored"]) == (11_700, 900)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(fixes)).scalar_one() == 12_600
        assert conn.execute(select(uploads.c.state).where(uploads.c.upload_id == upload_id)).scalar_one() == "stored"
    shown = {p["patrol_id"] for p in client.get(f"/api/v1/patrols?date={DAY}", headers=auth["auditor"]).json["patrols"]}
    assert {f"{m}_20261102" for m in MEMBERS} <= shown
    assert _views(client, auth)["map"]["properties"]["fixes"] == 1800


def test_a_crash_between_parts_leaves_nothing_and_the_retry_stores_one_copy(
    database_url, store, client, auth, tmp_path, db_execute
):
    body = _setup(client, auth, tmp_path)
    before = _views(client, auth)
    child = _start_child(database_url, tmp_path, body)
    with stopped_mid_upload(store, child) as dead_id:
        child.send_signal(signal.SIGKILL)  # between two parts, or inside one (rolled back)
        child.communicate(timeout=60)
    _nothing_of_it_shows(store, client, auth, before, dead_id)
    # Its process is gone: the upload is recognised as dead at once (same host, pid not running).
    assert storing.dead_uploads(store) == [dead_id]
    first = client.post(
        "/api/v1/tracks",
        data=body,
        content_type="text/csv",
        headers={**auth["admin"], "Idempotency-Key": KEY, "Prefer": "wait=60"},
    )
    assert first.status_code == 201 and not first.json["replayed"], first.json
    assert (first.json["fixes_stored"], first.json["already_stored"]) == (11_700, 900)
    second = client.post(
        "/api/v1/tracks", data=body, content_type="text/csv", headers={**auth["admin"], "Idempotency-Key": KEY}
    )
    assert second.status_code == 200 and second.json["replayed"]
    assert second.json["upload_id"] == first.json["upload_id"]  # (SQLite may give it the dead one's id)
    # Exactly one copy: one upload row for the key, all stored, none of the dead one's fixes left.
    assert db_execute("SELECT count(*) FROM uploads WHERE idempotency_key = :k", k=KEY) == [(1,)]
    assert db_execute("SELECT count(*) FROM uploads WHERE state <> 'stored'") == [(0,)]
    assert db_execute(
        "SELECT count(*) FROM fixes WHERE upload_id <> :u AND member_id LIKE 'P%'", u=first.json["upload_id"]
    ) == [(0,)]
    assert dict(db_execute("SELECT member_id, count(*) FROM fixes GROUP BY member_id")) == {
        m: 1800 for m in ["M001", *MEMBERS]
    }
    # One patrol each, and ledger entries only as the patrols' credit says (their copies of one
    # track are DUPLICATE_TRACK: held, no grant), none twice.
    held = db_execute("SELECT patrol_id, credit_status FROM patrols WHERE member_id LIKE 'P%'")
    assert sorted(p for p, _ in held) == [f"{m}_20261102" for m in MEMBERS]
    entries = db_execute("SELECT kind, patrol_id FROM ledger WHERE member_id LIKE 'P%'")
    assert Counter(entries) == Counter(("grant", p) for p, status in held if status == "verified")
    verdict = client.get("/api/v1/audit/verify", headers=auth["admin"])
    assert verdict.status_code == 200 and verdict.json["ok"], verdict.json


@pytest.fixture
def second_url(backend, tmp_path, request):
    """A second fresh database on the same backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / ('second-' + SQLITE_FILE)}"
        return
    from .conftest import _drop_database

    conn, url = request.getfixturevalue("postgres_admin")
    name = f"gv_test_{uuid.uuid4().hex[:16]}"
    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    _drop_database(conn, name)


def _stored_result(url: str, body: bytes, part_fixes: int | None) -> dict:
    store = Store.open(url, now=NOW, audit_key="")
    store.upload_part_fixes = part_fixes
    try:
        upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
        answer = upload(store, "tracks", body, suffix=".csv", wait=math.inf)
        with store.read() as conn:
            return {
                "answer": {k: v for k, v in answer.items() if k not in ("patrols", "ledger_entries")},
                "patrols": sorted(
                    conn.execute(
                        select(patrols.c.patrol_id, patrols.c.credit_status, patrols.c.points, patrols.c.document)
                    ).all()
                ),
                # Per patrol: points and live grants. (The order workers verify member-days queued together
                # in is not fixed: a two-phones pair written in two transactions may get a grant and its
                # reversal on the way, whichever way the fixes were stored.)
                "ledger": sorted(
                    row
                    for row in conn.execute(
                        select(
                            ledger.c.patrol_id,
                            func.sum(ledger.c.points),
                            func.sum(case((ledger.c.kind == "grant", 1), else_=-1)),
                        ).group_by(ledger.c.patrol_id)
                    )
                    if tuple(row)[1:] != (0, 0)
                ),
                "flags": sorted(conn.execute(select(flags.c.flag_id, flags.c.status, flags.c.evidence)).all()),
                "fixes": conn.execute(
                    select(
                        fixes.c.member_id,
                        fixes.c.time_ns,
                        fixes.c.lon,
                        fixes.c.lat,
                        fixes.c.source,
                        fixes.c.line,
                        fixes.c.upload_id,
                    ).order_by(fixes.c.member_id, fixes.c.time_ns)
                ).all(),
            }
    finally:
        store.dispose()


def test_parts_store_the_same_as_one_transaction(database_url, second_url):
    """The sample day (flags, duplicates, repeats) in one transaction and in 100-fix parts: the same
    answer, fixes, patrol documents, flags and ledger (each patrol's points and live grants)."""
    header, *_ = (SAMPLES / "honest_M001.csv").read_text(encoding="utf-8").splitlines()
    rows = [
        line for path in sorted(SAMPLES.glob("*.csv")) for line in path.read_text(encoding="utf-8").splitlines()[1:]
    ]
    body = ("\n".join([header, *rows, *rows[:50]]) + "\n").encode()  # 50 repeats within the upload
    one = _stored_result(database_url, body, 10**9)
    parts = _stored_result(second_url, body, 100)
    assert one["answer"]["fixes_read"] == len(rows) + 50 and one["answer"]["rejected"]["duplicate"] >= 50
    assert one["ledger"] and one["flags"]
    assert parts == one


def test_an_error_in_the_last_part_discards_the_parts_before_it(store):
    """A fix whose member id is too long to store sorts last: the parts stored before it are
    deleted, and the same Idempotency-Key then stores the corrected upload."""
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    store.upload_part_fixes, store.max_fixes_per_upload = PART_FIXES, 20_000
    good = patrol_csv([(m, DAY) for m in MEMBERS])
    bad = good + f"{'Z' * 101},2026-11-02T12:00:00+08:00,116.4134,39.9434,,,,,\n".encode()
    with pytest.raises(InputError, match="at most 100"):
        upload(store, "tracks", bad, suffix=".csv", idempotency_key=KEY)
    with store.read() as conn:
        tracks = select(func.count()).select_from(uploads).where(uploads.c.kind == "tracks")
        assert conn.execute(tracks).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(fixes)).scalar_one() == 0
    answer = upload(store, "tracks", good, suffix=".csv", idempotency_key=KEY)
    assert (answer["replayed"], answer["fixes_stored"]) == (False, 1800 * len(MEMBERS))


def test_uploads_look_for_dead_uploads_at_most_every_ten_seconds(store):
    """Each track upload used to look for dead uploads (a read transaction per upload); a process
    now looks at most every ``REAP_EVERY_S`` = 10 s. A dead upload met in between is discarded
    where it is met (the test above), so nothing waits for the next look."""

    def dead_upload(name: str) -> int:
        with store.write() as conn:
            return conn.execute(
                uploads.insert()
                .values(
                    kind="tracks",
                    content_sha256=name,
                    request_sha256=name,
                    actor="test",
                    created_at="2026-11-02T00:00:00Z",
                    response="{}",
                    state=storing.STORING,
                    storing_by="elsewhere:1:x",
                    storing_until_ns=1,  # its lease ran out long ago
                )
                .returning(uploads.c.upload_id)
            ).scalar_one()

    assert storing.REAP_EVERY_S == 10.0
    first = dead_upload("first")
    assert storing.reap_now_and_then(store) == 1
    second = dead_upload("second")
    assert storing.reap_now_and_then(store) == 0  # looked less than 10 s ago
    assert storing.dead_uploads(store) == [second]
    store.cache["reaped_at"] -= storing.REAP_EVERY_S + 1  # as if 11 s had passed
    assert storing.reap_now_and_then(store) == 1
    with store.read() as conn:
        left = conn.execute(select(uploads.c.upload_id).where(uploads.c.upload_id.in_([first, second]))).all()
    assert left == []
