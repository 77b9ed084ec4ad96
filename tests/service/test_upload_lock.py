"""A small track upload on PostgreSQL takes the writer lock late (issue #12, docs/operations.md).

Its fixes are inserted beside other writers; only its queueing, answer and audit entry wait for the
store's writer lock. What the lock guaranteed still holds: a copy of the upload (same content, or
some of the same fixes) sent meanwhile is stored once, and the audit chain has no gap.

PostgreSQL only: on SQLite a writer transaction is the one writer from its first statement.
Each test holds the writer lock in a transaction of its own, starts uploads in threads, waits
until PostgreSQL shows them waiting where the design says they wait (``pg_locks``), then lets go.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

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
