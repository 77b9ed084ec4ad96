"""Uploads that meet each other's fixes while those are not committed, or not complete (issue #12,
docs/operations.md).

A small track upload on PostgreSQL takes the writer lock late: its fixes are inserted beside other
writers; only its queueing, answer and audit entry wait for the store's writer lock. What the lock
guaranteed still holds: a copy of the upload (same content, or some of the same fixes) sent
meanwhile is stored once, and the audit chain has no gap. PostgreSQL only (on SQLite a writer
transaction is the one writer from its first statement): each test holds the writer lock in a
transaction of its own, starts uploads in threads, waits until PostgreSQL shows them waiting where
the design says they wait (``pg_locks``), then lets go.

A big upload stored in parts: another upload holding some of the fixes of its committed parts
answers 409 until it is complete (both backends; the big upload's thread is held between two parts).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text

from geoverify.errors import UploadInProgress
from geoverify.store import audit_verify
from geoverify.store.ingest import upload
from geoverify.store.schema import fixes, uploads
from geoverify.store.writer_lock import PG_WRITER_LOCK

from .conftest import GRIDS, SAMPLES

WAITING = {
    # a transaction waiting for the writer lock (an advisory lock)
    "lock": "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
    # a transaction waiting for another's uncommitted row (a unique key it inserted first)
    "row": "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted",
}


@pytest.fixture
def held_lock(store, backend):
    """A transaction holding the store's writer lock until ``release()``; PostgreSQL only."""
    if backend != "postgresql":
        pytest.skip("the writer lock is taken late on PostgreSQL only; an SQLite writer is alone from its start")
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    conn = store.engine.connect()
    conn.begin()
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITER_LOCK})")
    done = threading.Event()

    def release():
        if not done.is_set():
            done.set()
            conn.commit()
            conn.close()

    yield release
    release()


def _wait_for(store, what: str, count: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    with store.engine.connect() as conn:
        while True:
            seen = conn.execute(text(WAITING[what])).scalar_one()
            conn.rollback()
            if seen >= count:
                return
            assert time.monotonic() < deadline, f"no transaction waited for a {what} within {timeout_s} s"
            time.sleep(0.02)


def _start(store, body: bytes, answers: dict, name: str) -> threading.Thread:
    def run():
        try:
            answers[name] = upload(store, "tracks", body, suffix=".csv")
        except Exception as exc:  # noqa: BLE001 -- kept as the answer: the test's assertion shows it
            answers[name] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _stored(store) -> tuple[int, int]:
    with store.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(fixes)).scalar_one(),
            conn.execute(select(func.count()).where(uploads.c.kind == "tracks")).scalar_one(),
        )


def test_the_same_upload_twice_while_the_lock_is_held_is_stored_once(store, held_lock):
    """The first copy inserts its 1,800 fixes and waits for the lock; the second waits for the
    first's uncommitted fixes (not for the lock). When the lock is free the first commits, the
    second meets its fixes, tries again and answers the first's result, replayed."""
    body = (SAMPLES / "honest_M001.csv").read_bytes()
    answers: dict = {}
    first = _start(store, body, answers, "first")
    _wait_for(store, "lock", 1)  # its fixes are inserted: it waits only for the lock now
    second = _start(store, body, answers, "second")
    _wait_for(store, "row", 1)  # it met the first's uncommitted fixes
    assert _stored(store) == (0, 0)  # nothing is visible before the commit
    held_lock()
    first.join(60)
    second.join(60)

    assert answers["first"]["fixes_stored"] == 1800 and answers["first"]["replayed"] is False
    assert answers["second"]["replayed"] is True
    assert answers["second"]["upload_id"] == answers["first"]["upload_id"]
    assert _stored(store) == (1800, 1)
    with store.read() as conn:
        assert audit_verify.verify(conn)["ok"] is True


def test_an_upload_holding_fixes_of_one_still_uncommitted_stores_only_its_own(store, held_lock):
    """A different upload holding the first's fixes and its own: after the first commits it tries
    again, finds the first's 1,800 fixes stored and stores only its own."""
    first_body = (SAMPLES / "honest_M001.csv").read_bytes()
    header, *own = (SAMPLES / "teleport_M002.csv").read_text(encoding="utf-8").splitlines()
    second_body = first_body + ("\n".join(own) + "\n").encode()
    answers: dict = {}
    first = _start(store, first_body, answers, "first")
    _wait_for(store, "lock", 1)
    second = _start(store, second_body, answers, "second")
    _wait_for(store, "row", 1)
    held_lock()
    first.join(60)
    second.join(60)

    assert answers["first"]["fixes_stored"] == 1800
    second_answer = answers["second"]
    assert second_answer["replayed"] is False
    assert second_answer["already_stored"] == 1800
    assert second_answer["fixes_stored"] == len(own)
    assert second_answer["upload_id"] != answers["first"]["upload_id"]
    assert _stored(store) == (1800 + len(own), 2)
    with store.read() as conn:
        assert audit_verify.verify(conn)["ok"] is True


def test_an_upload_holding_fixes_of_a_big_one_between_its_parts_answers_409(store, monkeypatch):
    """M001's day (1,800 fixes) stored in parts of 300, its thread held after the first part: an
    upload holding 100 of those fixes and M002's day answers UploadInProgress (409) naming it, and
    stores nothing; once the big upload is complete, the same upload stores M002's 1,080 fixes and
    counts the 100 as already stored."""
    upload(store, "grids", GRIDS.read_bytes(), suffix=".geojson")
    store.upload_part_fixes = 300
    big_body = (SAMPLES / "honest_M001.csv").read_bytes()
    header, *rows = big_body.decode().splitlines()
    _, *own = (SAMPLES / "teleport_M002.csv").read_text(encoding="utf-8").splitlines()
    small_body = ("\n".join([header, *rows[:100], *own]) + "\n").encode()
    between, go_on = threading.Event(), threading.Event()
    real_write, writes = store.write, []

    @contextmanager
    def write(*args, **kwargs):
        if threading.current_thread().name == "big":
            writes.append(1)
            if len(writes) == 2:  # the first part is committed; hold the thread before the second
                between.set()
                assert go_on.wait(60)
        with real_write(*args, **kwargs) as conn:
            yield conn

    monkeypatch.setattr(store, "write", write)
    answers: dict = {}
    big = _start(store, big_body, answers, "big")
    try:
        assert between.wait(60)
        with store.read() as conn:
            storing_id = conn.execute(select(uploads.c.upload_id).where(uploads.c.state == "storing")).scalar_one()
        with pytest.raises(UploadInProgress) as refused:
            upload(store, "tracks", small_body, suffix=".csv")
        assert refused.value.upload_id == storing_id
        assert _stored(store) == (300, 1)  # the big upload's first part, invisible to readers
    finally:
        go_on.set()
        big.join(60)
    assert answers["big"]["fixes_stored"] == 1800 and answers["big"]["upload_id"] == storing_id
    again = upload(store, "tracks", small_body, suffix=".csv")
    assert (again["fixes_stored"], again["already_stored"]) == (len(own), 100)
    assert _stored(store) == (1800 + len(own), 2)
