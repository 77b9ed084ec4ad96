"""Verification workers: claim pending member-days, verify them, write the results.

A worker is a loop over :meth:`Worker.run_once`: claim up to ``batch`` member-days
(:func:`geoverify.store.queue.claim`), measure them and compare them with other members' tracks
from a read snapshot without holding the writer lock (:func:`geoverify.store.verification.prepare`,
:func:`~geoverify.store.neighbours.read_around`), then write them in short writer transactions
(:func:`geoverify.store.verification.write_prepared`), keeping only the claims that still hold the
generation they were claimed at, and comparing again only those near a day track that changed
since the snapshot (:func:`~geoverify.store.neighbours.still_around`). Uploads and reviews never
wait behind the measuring, only behind the short write.

Where workers run (see ``docs/operations.md``):

- ``geoverify serve`` runs ``--workers`` threads in the server process (default 1; 0 for none);
- ``geoverify worker --processes N`` runs N worker processes beside it, on the same machine or on
  others sharing the PostgreSQL database;
- ``geoverify load`` and ``geoverify reverify`` verify what they stored before they return
  (:func:`drain`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from geoverify.store import audit, queue, storing
from geoverify.store.db import Store
from geoverify.store.neighbours import compare_prepared, read_around, still_around
from geoverify.store.schema import flags, patrols
from geoverify.store.verification import Key, Prepared, prepare, settle, write_prepared

log = logging.getLogger("geoverify.worker")

#: seconds a failed claim waits before it is tried again (times the attempts so far, at most 10 min)
RETRY_S = 15.0
#: seconds between two looks of an idle worker for dead uploads to discard
REAP_S = 30.0


def host_name() -> str:
    """This machine's name as worker names carry it."""
    return socket.gethostname()[:40].replace(":", "_")


def worker_name() -> str:
    """A name unique to this worker: host, process id and a random suffix."""
    return f"{host_name()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def release_orphans(store: Store) -> int:
    """Release the claims of dead worker processes of this machine (see :func:`queue.release_orphans`),
    and discard the parts of uploads whose process died before they were complete
    (:func:`geoverify.store.storing.reap`)."""
    from geoverify.store.upload_files import process_alive

    storing.reap(store)
    return queue.release_orphans(store, host_name(), process_alive)


@dataclass
class Worker:
    """One verification worker over a store.

    Attributes
    ----------
    batch : int
        Member-days claimed and measured together.
    write_chunk : int
        The most member-days written per writer transaction.
    write_budget_s : float
        How long one writer transaction should hold the writer lock (seconds): after each, the next
        one takes as many member-days as the last ones' time per member-day fits in this budget
        (at least one), so that a batch of heavy member-days (long tracks, many earlier days to
        compare for replays) never makes uploads and reviews wait long.
    lease_s : float
        How long a claim lasts; a worker that dies leaves its claims to expire after this.
    poll_s : float
        How long :meth:`run` sleeps when the queue is empty (less when woken).
    """

    store: Store
    name: str = field(default_factory=worker_name)
    batch: int = 64
    lease_s: float = 120.0
    poll_s: float = 0.1
    write_chunk: int = 64
    write_budget_s: float = 0.2
    actor: str = "worker"
    #: seconds the writer lock was held per member-day written, averaged over the last transactions
    pace_s: float | None = None
    #: member-days verified and written, claims whose result was discarded (newer input), failures
    verified: int = 0
    discarded: int = 0
    failed: int = 0
    #: member-days compared again under the writer lock, because a day track near theirs changed
    #: after their snapshot (the others keep the comparison made before the lock)
    compared_again: int = 0

    def run_once(self, keys: Iterable[Key] | None = None) -> list[dict]:
        """Claim, verify and write one batch; the written patrols (see ``write_prepared``)."""
        claims = queue.claim(self.store, self.name, limit=self.batch, lease_s=self.lease_s, keys=keys)
        if not claims:
            return []
        written: list[dict] = []
        mine: list[queue.Claim] = []
        try:
            with self.store.read() as conn:
                prepared = prepare(self.store, conn, {c.key for c in claims})
                around = read_around(self.store, conn, prepared)
            # Written a few member-days per transaction, so that uploads and reviews never wait
            # long for the writer lock: each transaction takes as many as fit the time budget at
            # the pace of the last ones (the first one of a worker: a single member-day).
            start, size = 0, self._chunk()
            while start < len(claims):
                chunk = claims[start : start + size]
                start += len(chunk)
                part = _only(prepared, {c.key for c in chunk})
                # Compared with the snapshot's neighbours before taking the lock; kept under it
                # unless a day track near these changed since (then compared again there).
                found = compare_prepared(self.store, None, part, around)
                with self.store.write() as conn:
                    began = time.monotonic()  # the time the writer lock is held, not waited for
                    settle(self.store, conn, self.actor)
                    held = queue.still_mine(conn, chunk, self.name)
                    if held:
                        kept = part if len(held) == len(chunk) else _only(prepared, {c.key for c in held})
                        whole = kept is part and still_around(self.store, conn, around, part)
                        self.compared_again += 0 if whole else len(held)
                        written += write_prepared(self.store, conn, kept, self.actor, found=found if whole else None)
                    queue.finish(conn, self.name, done=held, released=[c for c in chunk if c not in held])
                mine += held
                pace = (time.monotonic() - began) / len(chunk)
                self.pace_s = pace if self.pace_s is None else 0.5 * (self.pace_s + pace)
                size = self._chunk()
        except Exception:
            self.failed += len(claims)
            attempts = max(1, self.failed)
            log.exception(
                "verifying %d member-days failed; they are retried in %.0f s",
                len(claims),
                min(600.0, RETRY_S * attempts),
            )
            queue.back_off(self.store, claims, min(600.0, RETRY_S * attempts))
            return []
        self.verified += len(mine)
        self.discarded += len(claims) - len(mine)
        return written

    def _chunk(self) -> int:
        """Member-days for the next writer transaction: as many as fit ``write_budget_s``."""
        if self.pace_s is None:
            return 1
        return max(1, min(self.write_chunk, int(self.write_budget_s / max(self.pace_s, 1e-6))))

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Work until ``stop`` is set; sleep ``poll_s`` (or until ``wake``) when nothing is pending.

        When idle it discards, every ``REAP_S`` at most, the parts of uploads whose process died.
        """
        reaped = time.monotonic()
        while not stop.is_set():
            try:
                done = self.run_once()
                if not done and time.monotonic() - reaped > REAP_S:
                    reaped = time.monotonic()
                    storing.reap(self.store)
            except Exception:  # the database is away: keep trying, the work is in the queue
                log.exception("worker %s could not claim work; trying again", self.name)
                done, _ = [], stop.wait(max(self.poll_s, 1.0))
            if done or stop.is_set():
                continue
            if wake is not None:
                wake.wait(self.poll_s)
                wake.clear()
            else:
                stop.wait(self.poll_s)


def _only(prepared: Prepared, keys: set[Key]) -> Prepared:
    from dataclasses import replace

    part = replace(
        prepared.part,
        patrols=[p for p in prepared.part.patrols if (p.member_id, p.date) in keys],
        tracks=[t for t in prepared.part.tracks if (t.member_id, t.date) in keys],
    )
    return Prepared(
        keys=keys,
        part=part,
        ctx=prepared.ctx,
        events_read=prepared.events_read,
        replays={k: v for k, v in prepared.replays.items() if k in keys},
    )


def drain(
    store: Store,
    keys: Iterable[Key] | None = None,
    *,
    batch: int = 64,
    timeout_s: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Verify pending member-days in this process until none is left (or only those others hold).

    Parameters
    ----------
    keys : iterable of (member_id, date), optional
        Only these (an upload waiting for its own member-days); default every pending one, and
        whatever their verification enqueues in turn.
    timeout_s : float, optional
        Give up after this long, leaving the rest pending.
    progress : callable, optional
        Called with the number of member-days written after each batch.

    Returns
    -------
    list of dict
        Every patrol written, in order (a member-day written twice appears twice).
    """
    worker = Worker(store, batch=batch, actor="cli")
    wanted = None if keys is None else set(keys)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    written: list[dict] = []
    while True:
        done = worker.run_once(wanted)
        written += done
        if progress is not None and done:
            progress(len(done))
        if done:
            continue
        if worker.failed:  # logged; the member-days stay pending and are retried later
            return written
        with store.read() as conn:
            left = queue.pending(conn, wanted) if wanted is not None else queue.status(conn)["pending"]
        if not left or (deadline is not None and time.monotonic() > deadline):
            return written
        time.sleep(0.05)  # held by another worker (or backing off): wait for it


def start_threads(store: Store, count: int) -> tuple[threading.Event, threading.Event, list[threading.Thread]]:
    """Start ``count`` worker threads (daemons); returns (stop, wake, threads). Set ``wake`` after
    an upload to start at once; set ``stop`` to end them."""
    stop, wake = threading.Event(), threading.Event()
    release_orphans(store)
    threads = []
    for number in range(count):
        worker = Worker(store)
        thread = threading.Thread(target=worker.run, args=(stop, wake), name=f"geoverify-worker-{number}", daemon=True)
        thread.start()
        threads.append(thread)
    return stop, wake, threads


def _work(make_store: Callable[[], Store], batch: int, lease_s: float, until_empty: bool, results=None) -> dict:
    """One worker process: run until SIGTERM/SIGINT (or, with ``until_empty``, until no work is left)."""
    store = make_store()
    stop = threading.Event()

    def _stop(_signum, _frame):
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    worker = Worker(store, batch=batch, lease_s=lease_s)
    if until_empty:
        while not stop.is_set() and (worker.run_once() or _pending(store)):
            if worker.failed:
                break
            stop.wait(0.05)
    else:
        worker.run(stop)
    store.dispose()
    totals = {
        "verified": worker.verified,
        "discarded": worker.discarded,
        "failed": worker.failed,
        "compared_again": worker.compared_again,
    }
    if results is not None:
        results.put(totals)
    return totals


def _pending(store: Store) -> int:
    with store.read() as conn:
        return queue.status(conn)["pending"]


def run_processes(
    make_store: Callable[[], Store],
    *,
    processes: int = 1,
    batch: int = 64,
    lease_s: float = 120.0,
    until_empty: bool = False,
) -> dict:
    """Run ``processes`` worker processes (forked; one runs in this process) until stopped.

    Parameters
    ----------
    make_store : callable
        Opens the store (called in each process: every worker has its own connections).
    until_empty : bool
        Stop when the queue is empty instead of waiting for more work.

    Returns
    -------
    dict
        ``verified``, ``discarded`` (superseded by newer input), ``failed`` and ``compared_again``
        (compared for two phones again under the writer lock) member-days, summed.
    """
    opened = make_store()
    release_orphans(opened)
    opened.dispose()
    if processes <= 1:
        return _work(make_store, batch, lease_s, until_empty)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [
        context.Process(
            target=_work, args=(make_store, batch, lease_s, until_empty, results), name=f"geoverify-worker-{n}"
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()

    def _forward(signum, _frame):
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _forward)
    for child in children:
        child.join()
    totals = {"verified": 0, "discarded": 0, "failed": 0, "compared_again": 0}
    while not results.empty():
        for key, value in results.get().items():
            totals[key] += value
    return totals


def reverify_stored(
    store: Store, *, date_from: str | None = None, date_to: str | None = None, actor: str = "cli"
) -> dict:
    """Re-verify every stored member-day in a date range with the store's current rules.

    Run after changing the rules (``GEOVERIFY_RULES``): a new rule version is recorded in the
    audit log as ``rules.changed``, every stored member-day of the range is enqueued and verified
    in this process (workers running beside it share the work), and credit changes go to the
    ledger.

    Returns
    -------
    dict
        ``dates``, ``patrols`` (member-days verified), ``changed`` and ``ledger_entries`` counts,
        ``rule_version``.
    """
    from sqlalchemy import desc, union

    from geoverify.store.schema import audit_log

    with store.write() as conn:
        last = conn.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.action == "rules.changed")
            .order_by(desc(audit_log.c.seq))
            .limit(1)
        ).first()
        previous = json.loads(last.detail)["to"] if last else None
        if previous != store.rules.version:
            audit.append(
                conn,
                actor,
                "rules.changed",
                "rules",
                store.rules.version,
                {"from": previous, "to": store.rules.version},
            )
        queries = []
        for table in (patrols, flags):
            query = select(table.c.member_id, table.c.date).where(table.c.member_id.is_not(None))
            if date_from:
                query = query.where(table.c.date >= date_from)
            if date_to:
                query = query.where(table.c.date <= date_to)
            queries.append(query)
        keys = {(r.member_id, dt.date.fromisoformat(r.date)) for r in conn.execute(union(*queries))}
        queue.enqueue(conn, keys)
    written = drain(store)
    return {
        "dates": len({d for _, d in keys}),
        "patrols": len({w["patrol_id"] for w in written}),
        "changed": sum(int(w["changed"]) for w in written),
        "ledger_entries": sum(len(w["ledger"]) for w in written),
        "rule_version": store.rules.version,
    }
