"""Track uploads stored in parts: each part in its own short writer transaction, visible together.

A track upload is checked outside the writer lock (rejection reasons, repeats within the upload,
the rows to store, sorted by member and time), then stored part by part: each part is one writer
transaction that checks its fixes against the stored ones (``already_stored``) and inserts the
new ones (``COPY`` on PostgreSQL, one ``executemany`` on SQLite). A part holds the writer lock for
about ``Store.upload_part_budget_s`` (0.2 s; the parts after the first take as many fixes as fit
at the pace of the last ones), so reviews and small uploads wait at most that long behind it.
The first part's transaction also checks for a replay and inserts the ``uploads`` row in state
``storing``; until the last part's transaction marks it ``stored``, queues its member-days and
audits it, readers ignore its fixes (:func:`geoverify.store.storing.visible`). An upload that
fits one part is stored in one transaction; on PostgreSQL that transaction takes the writer lock
late (``Store.write(lock_late=True)``): its row and fixes are inserted beside other writers, and
under the lock it looks again for a copy of itself committed meanwhile, writes its
Idempotency-Key, queues and audits. Meeting another writer's uncommitted copy of some of its fixes
(the unique key), it is tried again from the start. On any error the parts stored so far are
discarded; a process that dies leaves them to :func:`geoverify.store.storing.reap`.

The result (counts, member-days, fixes stored) is the same as storing the whole upload in one
transaction at the moment its last part commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, insert, select, update

from geoverify.patrol.verify import patrol_id as make_patrol_id
from geoverify.preprocessing.cleaning import KEPT, REJECT_REASONS, rejection_reasons
from geoverify.store import audit, queue, storing
from geoverify.store.bulk import check_text, insert_columns
from geoverify.store.clock import utc_now_text
from geoverify.store.db import Store
from geoverify.store.frames import fix_columns_from_table
from geoverify.store.schema import fixes, patrols, uploads
from geoverify.store.verification import Key, max_gap_s, member_day_keys
from geoverify.store.writer_lock import is_write_conflict, take_writer_lock

log = logging.getLogger("geoverify.upload")

#: fixes in the first part of an upload whose part size is not fixed (later parts follow the pace)
FIRST_PART = 5_000
#: bounds of an adaptive part (fixes)
PART_BOUNDS = (500, 200_000)
#: times an upload of one part is tried again after meeting another writer's copy of its fixes
MAX_CONFLICTS = 5


class _Repeated(Exception):
    """Found under the writer lock: a copy of the upload committed meanwhile (its answer)."""

    def __init__(self, answer: dict):
        super().__init__("a copy of the upload was stored meanwhile")
        self.answer = answer


@dataclass
class PreparedFixes:
    """A fix table checked outside the writer lock, ready to be stored in parts."""

    rows: int  #: rows of the table
    reasons: np.ndarray  #: rejection reason of each row (``KEPT`` when kept)
    storable: np.ndarray  #: positions of the rows with a member id and a time
    members: np.ndarray  #: member id of each storable row
    times: np.ndarray  #: UTC ns of each storable row
    codes: np.ndarray  #: the (member, time) key of each storable row, numbered
    firsts: np.ndarray  #: storable position of each key's first row, sorted by member and time
    columns: dict  #: the ``fixes`` columns of the ``firsts`` rows, in that order (object arrays)


def prepare_fixes(store: Store, frame: pd.DataFrame) -> PreparedFixes:
    """Rejection reasons, repeats within the table and the rows to store (no database access)."""
    reasons = rejection_reasons(frame, now=store.now(), rules=store.rules.defaults)
    mask = frame["member_id"].notna().to_numpy() & frame["time"].notna().to_numpy()
    table = frame.loc[mask]
    members = table["member_id"].astype(str).to_numpy(dtype=object)
    times = table["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    # The (member, time) key of each row numbered in order of first appearance, as factorizing the
    # pairs would: members numbered in sorted order, times numbered, the pair as one number (a
    # MultiIndex of a million rows spends 0.7 s on tuples; grouping costs a millisecond on 30 rows).
    member_code, _ = pd.factorize(members, sort=True)
    time_code, distinct_times = pd.factorize(times)
    codes = pd.factorize(member_code.astype(np.int64) * max(len(distinct_times), 1) + time_code)[0].astype(np.int64)
    first_pos = np.unique(codes, return_index=True)[1] if len(codes) else np.zeros(0, dtype=np.int64)
    # Sorted by member and time: each part then covers few members and a short span.
    firsts = first_pos[np.lexsort((times[first_pos], member_code[first_pos]))]
    # As object arrays, so that each part takes its rows in one indexing step per column.
    columns = {
        name: np.asarray(values, dtype=object)
        for name, values in fix_columns_from_table(table.iloc[firsts], 0).items()
        if name != "upload_id"
    }
    return PreparedFixes(
        rows=len(frame),
        reasons=reasons,
        storable=np.flatnonzero(mask),
        members=members,
        times=times,
        codes=codes,
        firsts=firsts,
        columns=columns,
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


Finish = Callable[[Connection, int, dict, set, set], dict]


def store_tracks(
    store: Store,
    prepared: PreparedFixes,
    row: dict,
    *,
    finish: Finish,
    replay: Callable[[Connection, int | None], dict | None] | None = None,
) -> tuple[dict | None, dict | None]:
    """Store prepared fixes in parts as one upload; see the module's description.

    Parameters
    ----------
    row : dict
        The ``uploads`` row's values (kind, hashes, key, actor, created_at).
    finish : callable
        ``finish(conn, upload_id, counts, keys, shown)`` in the last part's transaction: queue the
        member-days, write the answer and the audit entry; returns the answer.
    replay : callable, optional
        ``replay(conn, ignore)``, called first in the first part's transaction (``ignore`` None):
        an earlier upload's answer to replay instead (then nothing is stored), or None. An
        upload of one part on PostgreSQL asks again once it holds the writer lock, ignoring its
        own row (``ignore``: its upload id).

    Returns
    -------
    (dict or None, dict or None)
        The replayed answer, or None and the new upload's answer.

    Raises
    ------
    geoverify.errors.UploadInProgress
        When the upload repeats, or holds fixes of, an upload still being stored by a live process.
    """
    n = len(prepared.firsts)
    existing = np.zeros(n, dtype=bool)
    fixed = store.upload_part_fixes
    size = max(1, int(fixed)) if fixed else FIRST_PART
    holder = storing.holder_name()
    upload_id: int | None = None
    start, pace, discarded, conflicts = 0, None, 0, 0
    try:
        while True:
            end = min(n, start + size)
            last = end == n
            # An upload of one part takes the writer lock late on PostgreSQL: its fixes are
            # inserted beside other writers, only its queueing and audit entry wait for the lock.
            late = upload_id is None and last and store.engine.dialect.name == "postgresql"
            try:
                with store.write(lock_late=late) as conn:
                    began = time.monotonic()
                    if upload_id is None:
                        found = replay(conn, None) if replay is not None else None
                        if found is not None:
                            return found, None
                        part_id = conn.execute(
                            insert(uploads)
                            .values(
                                **{**row, "idempotency_key": None} if late else row,
                                response="{}",
                                state=storing.STORED if last else storing.STORING,
                                storing_by=None if last else holder,
                                storing_until_ns=None if last else storing.lease_end(),
                            )
                            .returning(uploads.c.upload_id)
                        ).scalar_one()
                    else:
                        part_id = upload_id
                        storing.renew(conn, upload_id, holder)
                    existing[start:end] = _store_part(conn, prepared, start, end, part_id)
                    if last:
                        if late:
                            take_writer_lock(conn)
                            # A copy of it (same key or content) committed while its fixes were
                            # inserted: answer that one, and store nothing.
                            found = replay(conn, part_id) if replay is not None else None
                            if found is not None:
                                raise _Repeated(found)
                            if row.get("idempotency_key") is not None:
                                conn.execute(
                                    update(uploads)
                                    .where(uploads.c.upload_id == part_id)
                                    .values(idempotency_key=row["idempotency_key"])
                                )
                        counts, keys, shown = _outcome(store, conn, prepared, existing)
                        response = finish(conn, part_id, counts, keys, shown)
                        if upload_id is not None:
                            storing.complete(conn, part_id)
                        return None, response
                    held = time.monotonic() - began
            except _Repeated as repeated:
                return repeated.answer, None
            except storing.DeadInTheWay as dead:  # a dead upload's parts hold the row or the fixes
                discarded += 1
                if discarded > 3:
                    raise storing.in_progress(dead) from None
                storing.discard(store, dead.upload_id)
                continue
            except Exception as error:
                # Another upload's copy of some of these fixes committed while they were inserted
                # (a unique key), or PostgreSQL broke a deadlock: try again, the stored ones found.
                conflicts += 1
                if not (late and is_write_conflict(error)) or conflicts > MAX_CONFLICTS:
                    raise
                continue  # the one part's `existing` is found again in full
            upload_id = part_id
            pace = held / max(end - start, 1) if pace is None else 0.5 * (pace + held / max(end - start, 1))
            if not fixed:
                low, high = PART_BOUNDS
                size = int(min(high, max(low, store.upload_part_budget_s / max(pace, 1e-9))))
            start = end
    except BaseException:
        if upload_id is not None:
            try:
                storing.discard(store, upload_id, holder=holder)
            except Exception:  # the lease runs out and the next upload or worker discards it
                log.exception("could not discard the parts of upload %d", upload_id)
        raise


def store_fixes(store: Store, frame: pd.DataFrame, *, actor: str = "cli", source: str = "bulk") -> dict:
    """Store a fix table on the database's fast path (in parts, see :func:`store_tracks`) and queue its member-days.

    For bulk loads of history: the same checks as a track upload (rejection reasons, duplicates
    against stored fixes and within the table), then ``COPY`` on PostgreSQL or one ``executemany``
    on SQLite; the member-days touched are put on the work queue, for workers or
    :func:`geoverify.store.worker.drain`.

    Parameters
    ----------
    frame : pandas.DataFrame
        A fix table (:data:`geoverify.schema.TRACK_COLUMNS`, as the track readers return it).
    actor : str
        Recorded in the upload row and the audit entry.
    source : str
        Recorded as the upload's kind of origin in the audit entry.

    Returns
    -------
    dict
        ``upload_id``, the counts of a track upload (``fixes_read``, ``fixes_stored``,
        ``accepted``, ``rejected``, ``already_stored``), ``dates`` (the local dates touched) and
        ``member_days_queued``.
    """
    content_sha = _sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    row = {
        "kind": "tracks",
        "content_sha256": content_sha,
        "request_sha256": _sha256(f"bulk:{content_sha}".encode()),
        "idempotency_key": None,
        "actor": actor,
        "created_at": utc_now_text(),
    }

    def finish(conn: Connection, upload_id: int, counts: dict, keys: set, shown: set) -> dict:
        queued = queue.enqueue(conn, keys)
        response = {
            "upload_id": upload_id,
            "kind": "tracks",
            **counts,
            "dates": local_dates(keys),
            "member_days_queued": queued,
        }
        conn.execute(
            update(uploads)
            .where(uploads.c.upload_id == upload_id)
            .values(response=json.dumps(response, ensure_ascii=False))
        )
        audit.append(
            conn,
            actor,
            "upload.tracks",
            "upload",
            str(upload_id),
            {"content_sha256": content_sha, "source": source, **counts, "member_days_queued": queued},
        )
        return response

    storing.reap(store)
    _, response = store_tracks(store, prepare_fixes(store, frame), row, finish=finish)
    assert response is not None
    return response


def load_large_tracks(
    store: Store,
    frame: pd.DataFrame,
    *,
    part_fixes: int | None = None,
    actor: str = "cli",
    source: str = "bulk",
    progress: Callable[[int], None] | None = None,
    verify_progress: Callable[[int], None] | None = None,
) -> dict:
    """Store a fix table of any size in parts, then verify the days it touches: the same result as
    one upload of the whole table.

    The table is cut into parts of at most ``part_fixes`` fixes (default the store's
    ``max_fixes_per_upload``), each stored in its own writer transaction on the fast path
    (:func:`store_fixes`, audited as one upload each, its member-days
    queued); then the queue is drained in this process (with any workers running beside it), so
    each member-day is verified once its fixes are all stored and ledger entries are appended
    once per change, as for a single upload.

    Parameters
    ----------
    frame : pandas.DataFrame
        A fix table as the track readers return it.
    progress : callable, optional
        Called with the number of fixes just stored, after each part.
    verify_progress : callable, optional
        Called with the number of member-days just verified.

    Returns
    -------
    dict
        ``fixes_read``, ``fixes_stored``, ``accepted``, ``rejected`` (counts by reason),
        ``already_stored``, ``parts``, ``patrols`` (patrol_id, credit, changed) and
        ``ledger_entries``, ``replayed`` (False).
    """
    size = max(int(part_fixes or store.max_fixes_per_upload), 1)
    totals: dict = {"fixes_read": 0, "fixes_stored": 0, "accepted": 0, "rejected": {}, "already_stored": 0}
    parts = 0
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        result = store_fixes(store, part, actor=actor, source=source)
        parts += 1
        for key in ("fixes_read", "fixes_stored", "accepted", "already_stored"):
            totals[key] += int(result.get(key, 0))
        for reason, count in result.get("rejected", {}).items():
            totals["rejected"][reason] = totals["rejected"].get(reason, 0) + int(count)
        if progress is not None:
            progress(len(part))
    from geoverify.store.worker import drain

    written = drain(store, progress=verify_progress)
    latest = {w["patrol_id"]: w for w in written}
    changed = {w["patrol_id"] for w in written if w["changed"]}
    patrols_out = [
        {"patrol_id": pid, "credit": w["credit"], "changed": pid in changed} for pid, w in sorted(latest.items())
    ]
    return {
        **totals,
        "parts": parts,
        "patrols": patrols_out,
        "ledger_entries": sum(len(w["ledger"]) for w in written),
        "replayed": False,
    }


def _store_part(conn: Connection, prepared: PreparedFixes, start: int, end: int, upload_id: int) -> np.ndarray:
    """Insert the rows ``firsts[start:end]`` that are not stored yet; which ones were."""
    members = prepared.members[prepared.firsts[start:end]]
    times = prepared.times[prepared.firsts[start:end]]
    stored, owners = stored_keys(conn, members, times)
    rows = storing.blocking(conn, owners - {upload_id})
    if rows:
        storing.check(rows[0])
    existing = (
        pd.MultiIndex.from_arrays([members, times]).isin(stored) if len(stored) else np.zeros(end - start, dtype=bool)
    )
    new = np.flatnonzero(~existing) + start
    columns = {name: values[new].tolist() for name, values in prepared.columns.items()}
    columns["upload_id"] = [upload_id] * len(new)
    check_text(fixes, columns, "fix")
    insert_columns(conn, fixes, columns)  # COPY on PostgreSQL, one executemany on SQLite
    return existing


def _outcome(store: Store, conn: Connection, prepared: PreparedFixes, existing: np.ndarray):
    """Counts, member-days to verify and member-days to show, as one transaction would find them."""
    by_code = np.zeros(len(prepared.firsts), dtype=bool)
    by_code[prepared.codes[prepared.firsts][existing]] = True
    existing_rows = by_code[prepared.codes]  # every row of a key already stored
    new = np.zeros(len(prepared.codes), dtype=bool)
    new[prepared.firsts[~existing]] = True  # the first row of each key not stored
    final = prepared.reasons.copy()
    final[prepared.storable[existing_rows]] = "duplicate"
    counts = dict.fromkeys(REJECT_REASONS, 0)
    rejected, tally = np.unique(final[final != KEPT].astype(str), return_counts=True)
    counts.update({str(r): int(n) for r, n in zip(rejected, tally)})
    members, times = prepared.members[new], prepared.times[new]
    # A fix within max_gap_s of midnight can change the other day too (segments across midnight).
    keys = member_day_keys(members, times, store.tz, margin_s=max_gap_s(store))
    own = member_day_keys(members, times, store.tz)
    shown = own | (patrol_keys(conn, keys - own) if keys - own else set())
    return (
        {
            "fixes_read": prepared.rows,
            "fixes_stored": int(new.sum()),
            "accepted": int((final == KEPT).sum()),
            "rejected": counts,
            "already_stored": int(existing_rows.sum()),
        },
        keys,
        shown,
    )


def stored_keys(conn: Connection, members: np.ndarray, times: np.ndarray) -> tuple[pd.MultiIndex, set[int]]:
    """(member_id, time_ns) of the stored fixes of ``members`` within the span of ``times``, and the
    uploads they belong to (whatever their state: the unique key holds for all)."""
    found_members: list[str] = []
    found_times: list[int] = []
    owners: set[int] = set()
    if len(times):
        names = sorted(set(members.tolist()))
        low, high = int(times.min()), int(times.max())
        for chunk in range(0, len(names), 500):
            for row in conn.execute(
                select(fixes.c.member_id, fixes.c.time_ns, fixes.c.upload_id).where(
                    and_(
                        fixes.c.member_id.in_(names[chunk : chunk + 500]),
                        fixes.c.time_ns >= low,
                        fixes.c.time_ns <= high,
                    )
                )
            ):
                found_members.append(row.member_id)
                found_times.append(row.time_ns)
                owners.add(row.upload_id)
    return (
        pd.MultiIndex.from_arrays([np.array(found_members, dtype=object), np.array(found_times, dtype=np.int64)]),
        owners,
    )


def patrol_keys(conn: Connection, keys: set[Key]) -> set[Key]:
    """Those of ``keys`` that have a stored patrol."""
    ids = {make_patrol_id(m, d): (m, d) for m, d in keys}
    found = conn.execute(select(patrols.c.patrol_id).where(patrols.c.patrol_id.in_(sorted(ids)))).scalars()
    return {ids[pid] for pid in found}


def local_dates(keys: set[Key]) -> list[str]:
    """The ISO dates of member-day keys, sorted."""
    return sorted({d.isoformat() if isinstance(d, dt.date) else str(d) for _, d in keys})
