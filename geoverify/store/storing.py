"""A track upload stored in parts: its state, its lease, and the parts of dead ones discarded.

A big upload is stored in several short writer transactions (:mod:`geoverify.store.track_upload`),
so that reviews and small uploads never wait long behind it. Its ``uploads`` row says how far it
got (migration 0006):

- ``storing``: parts are being stored. ``storing_by`` names the process (``host:pid:random``) and
  ``storing_until_ns`` ends its lease, renewed by every part. Every reader of fixes ignores the
  fixes of an upload that is not ``stored`` (:func:`visible`), and nothing is queued or audited yet;
- ``stored``: the last part's transaction also queued its member-days, wrote its answer and its
  audit entry, and made all of its fixes visible at once;
- ``discarding``: the upload died (its process is gone, or its lease ran out); its parts are being
  deleted, a chunk per writer transaction, and then its row (:func:`discard`).

An upload is dead when its lease ended (any host), or at once when it was stored by a process of
this host that no longer runs (a server killed mid-upload and restarted). Dead uploads are
discarded by the next track upload (:func:`reap`) and by the verification workers when idle; a
retry of a dead upload (same Idempotency-Key or content) therefore stores it anew, exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.sql.elements import ColumnElement

from geoverify.errors import UploadAbandoned, UploadInProgress
from geoverify.store.db import Store
from geoverify.store.schema import fixes, uploads

log = logging.getLogger("geoverify.storing")

STORING, STORED, DISCARDING = "storing", "stored", "discarding"
#: seconds a storing upload's lease lasts after each part (a part takes a fraction of a second)
LEASE_S = 60.0
#: fixes of a dead upload deleted per writer transaction
DISCARD_CHUNK = 20_000


def visible(column=fixes.c.upload_id) -> ColumnElement[bool]:
    """The condition that a fix belongs to a complete upload (add it to every query of fixes)."""
    return column.not_in(select(uploads.c.upload_id).where(uploads.c.state != STORED))


def holder_name() -> str:
    """This process's name as ``storing_by`` records it: host, process id, a random suffix."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _host() -> str:
    return socket.gethostname()[:40].replace(":", "_")


def lease_end(lease_s: float = LEASE_S) -> int:
    """UTC nanoseconds ``lease_s`` from now."""
    return time.time_ns() + int(lease_s * 1e9)


def renew(conn: Connection, upload_id: int, holder: str, lease_s: float = LEASE_S) -> None:
    """Extend the lease of a storing upload of ``holder`` (in the part's writer transaction).

    Raises
    ------
    UploadAbandoned
        When the upload is no longer this holder's storing upload (found dead and discarded).
    """
    done = conn.execute(
        update(uploads)
        .where(uploads.c.upload_id == upload_id, uploads.c.state == STORING, uploads.c.storing_by == holder)
        .values(storing_until_ns=lease_end(lease_s))
    ).rowcount
    if not done:
        raise UploadAbandoned(f"upload {upload_id} stalled past its lease and was discarded; send it again")


def is_dead(row, now_ns: int | None = None) -> bool:
    """Whether an ``uploads`` row that is not ``stored`` belongs to no live process."""
    if row.state == DISCARDING:
        return True
    if row.storing_until_ns is not None and row.storing_until_ns < (now_ns or time.time_ns()):
        return True
    host, _, rest = (row.storing_by or "").partition(":")
    pid = rest.split(":", 1)[0]
    if host == _host() and pid.isdigit():
        from geoverify.store.upload_files import process_alive

        return int(pid) != os.getpid() and not process_alive(int(pid))
    return False


def blocking(conn: Connection, upload_ids: set[int]) -> list[Any]:
    """The rows of those of ``upload_ids`` that are not ``stored`` (their fixes are not visible)."""
    if not upload_ids:
        return []
    return list(
        conn.execute(
            select(uploads.c.upload_id, uploads.c.state, uploads.c.storing_by, uploads.c.storing_until_ns).where(
                uploads.c.upload_id.in_(sorted(upload_ids)), uploads.c.state != STORED
            )
        )
    )


def in_progress(row) -> UploadInProgress:
    """The error for a request that needs an upload still being stored (HTTP 409 with Retry-After)."""
    return UploadInProgress(
        f"upload {row.upload_id} with the same Idempotency-Key, content or fixes is still "
        "being stored; send the request again in a moment (it then answers that upload's "
        "result, or stores this one)",
        upload_id=int(row.upload_id),
    )


def dead_uploads(store: Store) -> list[int]:
    """The ids of uploads that are not ``stored`` and whose process is gone or whose lease ended."""
    with store.read() as conn:
        rows = conn.execute(
            select(uploads.c.upload_id, uploads.c.state, uploads.c.storing_by, uploads.c.storing_until_ns).where(
                uploads.c.state != STORED
            )
        ).all()
    now = time.time_ns()
    return [int(r.upload_id) for r in rows if is_dead(r, now)]


def discard(store: Store, upload_id: int, *, chunk: int = DISCARD_CHUNK, holder: str | None = None) -> int:
    """Delete an upload that is not ``stored``: its fixes a chunk per writer transaction, then its row.

    Parameters
    ----------
    upload_id : int
    chunk : int
        Fixes deleted per writer transaction (each stays short, as the parts were).
    holder : str, optional
        The upload's own process giving it up (after an error); else the upload must be dead.

    Returns
    -------
    int
        Fixes deleted (0 when the upload was stored, or is another's and alive, meanwhile).
    """
    with store.write() as conn:
        row = conn.execute(select(uploads).where(uploads.c.upload_id == upload_id)).first()
        if row is None or row.state == STORED:
            return 0
        if row.state == STORING and row.storing_by != holder and not is_dead(row):
            return 0
        # From here on no part of its holder commits (renew fails), nor its completion.
        conn.execute(update(uploads).where(uploads.c.upload_id == upload_id).values(state=DISCARDING))
    deleted = 0
    while True:
        with store.write() as conn:
            ids = select(fixes.c.fix_id).where(fixes.c.upload_id == upload_id).limit(chunk)
            count = conn.execute(delete(fixes).where(fixes.c.fix_id.in_(ids))).rowcount
            deleted += count
            if count < chunk:
                conn.execute(delete(uploads).where(uploads.c.upload_id == upload_id, uploads.c.state == DISCARDING))
                break
    log.info("discarded upload %d that was not completely stored (%d fixes)", upload_id, deleted)
    return deleted


def reap(store: Store) -> int:
    """Discard every dead upload (:func:`discard`); returns how many."""
    dead = dead_uploads(store)
    for upload_id in dead:
        discard(store, upload_id)
    return len(dead)


#: seconds between two looks for dead uploads by the track uploads of one process
REAP_EVERY_S = 10.0


def reap_now_and_then(store: Store) -> int:
    """:func:`reap`, at most once every :data:`REAP_EVERY_S` seconds per store (a look costs a
    read transaction per upload otherwise). A dead upload met in between is discarded where it
    is met (:class:`DeadInTheWay`), and its fixes are invisible meanwhile."""
    now = time.monotonic()
    last = store.cache.get("reaped_at")
    if last is not None and now - last < REAP_EVERY_S:
        return 0
    store.cache["reaped_at"] = now
    return reap(store)


class DeadInTheWay(Exception):
    """A dead upload holds the row or the fixes a new upload needs: discard it, then try again."""

    def __init__(self, upload_id: int):
        super().__init__(f"upload {upload_id} is dead")
        self.upload_id = upload_id


def check(row) -> None:
    """Nothing for a ``stored`` upload's row; else raise :class:`DeadInTheWay` for a dead one and
    :class:`~geoverify.errors.UploadInProgress` for one still being stored."""
    if row.state == STORED:
        return
    if is_dead(row):
        raise DeadInTheWay(int(row.upload_id))
    raise in_progress(row)


def complete(conn: Connection, upload_id: int) -> None:
    """Mark a storing upload ``stored`` (in its last part's transaction): its fixes become visible."""
    conn.execute(
        update(uploads)
        .where(uploads.c.upload_id == upload_id)
        .values(state=STORED, storing_by=None, storing_until_ns=None)
    )
