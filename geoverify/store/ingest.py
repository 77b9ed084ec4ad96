"""Uploads into the store: grids, tracks, events and sites, idempotent; verification is queued.

Each upload is one writer transaction: the rows, the member-days they touch put on the work
queue (:mod:`geoverify.store.queue`) and the audit entry land together or not at all. Workers
verify the queued member-days (:mod:`geoverify.store.worker`); an upload may wait for its own
(``wait``), and its answer says which patrols are ``current`` and which are still ``pending``. A repeated request
(same ``Idempotency-Key``, or the same content and parameters) answers the stored response and
changes nothing; the same key with a different request raises :class:`IdempotencyConflict`.
The body is written to a temporary file with the right suffix and read by the library's readers
(:mod:`geoverify.store.upload_files`), so every format the command line reads is accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, func, insert, select, update

from geoverify.errors import Forbidden, IdempotencyConflict, InvalidRequest, UploadTooLarge
from geoverify.io import read_events, read_grids, read_sites, read_track_file
from geoverify.patrol.verify import patrol_id as make_patrol_id
from geoverify.preprocessing.cleaning import KEPT, REJECT_REASONS, rejection_reasons
from geoverify.store import audit, queue
from geoverify.store.answers import answer, keys_of
from geoverify.store.bulk import check_text, insert_columns
from geoverify.store.clock import utc_now_text
from geoverify.store.db import Store
from geoverify.store.frames import fix_columns_from_table, grid_row
from geoverify.store.schema import events, fixes, grids, patrols, sites, uploads
from geoverify.store.schema import ledger as ledger_table
from geoverify.store.upload_files import read_body
from geoverify.store.verification import Key, degrees_around, max_gap_s, member_day_keys

KINDS = ("grids", "tracks", "events", "sites")
# Kinds whose rows are replaced by a newer upload: a repeat is only a no-op when it is the latest.
REPLACING = ("grids", "sites")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(store: Store, kind: str, body: bytes, *, suffix: str, params: dict | None = None,
           actor: str = "cli", idempotency_key: str | None = None, allowed_members: frozenset | None = None,
           filename: str | None = None, wait: float = 0.0) -> dict:
    """Store one upload and queue the verification of the member-days it touches.

    Parameters
    ----------
    kind : {"grids", "tracks", "events", "sites"}
    body : bytes
        The file's content.
    suffix : str
        ``.csv``, ``.gpx``, ``.geojson``, ``.json``, ``.gpkg``, ``.parquet`` …: the reader to use.
    params : dict, optional
        ``crs`` (wgs84, gcj02, bd09) and, for GPX tracks, ``member_id``.
    allowed_members : frozenset, optional
        For an uploader: the member ids it may upload tracks and events for.
    wait : float
        Seconds to wait for the upload's own member-days to be verified (by this process, or by
        the worker that holds them); 0 answers at once with them pending, ``math.inf`` waits
        until they are verified (the command line).

    Returns
    -------
    dict
        ``upload_id``, ``kind``, counts by outcome, ``patrols`` the upload touched with their
        ``state`` (``current`` with ``credit`` and ``changed``, or ``pending``),
        ``ledger_entries`` appended by the upload's verification (when waited for), ``replayed``
        (True when this repeats an earlier request).
    """
    if kind not in KINDS:
        raise InvalidRequest(f"unknown upload kind {kind!r}; use one of {', '.join(KINDS)}")
    params = {k: v for k, v in (params or {}).items() if v is not None}
    content_sha = _sha256(body)
    request_sha = _sha256(json.dumps({"kind": kind, "params": params, "content": content_sha},
                                     sort_keys=True).encode())
    if allowed_members is None:   # an admin or the command line may repeat anything: replay before parsing
        replay = _replay(store, kind, request_sha, idempotency_key, actor)
        if replay is not None:
            return answer(store, replay, keys_of(replay), wait, replayed=True)
    parsed = _parse(store, kind, body, suffix, params, filename)
    if allowed_members is not None:   # an uploader's scope is checked before anything is replayed
        members = set(_members(kind, parsed))
        outside = sorted(members - set(allowed_members))
        if outside:
            raise Forbidden(f"this token may upload only for members {', '.join(sorted(allowed_members))}; "
                            f"the upload holds {', '.join(outside[:10])}")
    with store.write() as conn:
        replay = _replay_in(conn, kind, request_sha, idempotency_key, actor)
        if replay is None:
            upload_id = conn.execute(insert(uploads).values(
                kind=kind, content_sha256=content_sha, request_sha256=request_sha, idempotency_key=idempotency_key,
                actor=actor, created_at=utc_now_text(), response="{}").returning(uploads.c.upload_id)).scalar_one()
            ingest = {"grids": _ingest_grids, "tracks": _ingest_tracks, "events": _ingest_events,
                      "sites": _ingest_sites}[kind]
            counts, keys, shown = ingest(store, conn, parsed, upload_id)
            queued = queue.enqueue(conn, keys)
            ledger_seq = conn.execute(select(func.max(ledger_table.c.seq))).scalar_one() or 0
            stored_at = utc_now_text()
            hints = parsed.attrs.get("hints", []) if kind == "tracks" else []
            response = {"upload_id": upload_id, "kind": kind, "content_sha256": content_sha, **counts,
                        **({"warnings": hints} if kind == "tracks" else {}),
                        "patrols": [{"patrol_id": make_patrol_id(m, d), "state": "pending"} for m, d in sorted(
                            shown, key=lambda k: (k[1], k[0]))],
                        "ledger_entries": 0, "replayed": False}
            conn.execute(update(uploads).where(uploads.c.upload_id == upload_id)
                         .values(response=json.dumps(response, ensure_ascii=False, default=str)))
            audit.append(conn, actor, f"upload.{kind}", "upload", str(upload_id),
                         {"content_sha256": content_sha, "idempotency_key": idempotency_key, "params": params,
                          **{k: v for k, v in counts.items() if k != "patrols"}, "member_days_queued": queued})
    if replay is not None:
        return answer(store, replay, keys_of(replay), wait, replayed=True, members=allowed_members)
    if store.wake is not None and not wait:
        store.wake.set()   # an upload that waits verifies its own member-days
    return answer(store, response, keys, wait, ledger_seq=ledger_seq, stored_at=stored_at, members=allowed_members)


def store_fixes(store: Store, frame: pd.DataFrame, *, actor: str = "cli", source: str = "bulk") -> dict:
    """Store a fix table in one writer transaction on the database's fast path and queue its member-days.

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
    with store.write() as conn:
        upload_id = conn.execute(insert(uploads).values(
            kind="tracks", content_sha256=content_sha, request_sha256=_sha256(f"bulk:{content_sha}".encode()),
            idempotency_key=None, actor=actor, created_at=utc_now_text(), response="{}")
            .returning(uploads.c.upload_id)).scalar_one()
        counts, keys, _ = _ingest_tracks(store, conn, frame, upload_id)
        queued = queue.enqueue(conn, keys)
        response = {"upload_id": upload_id, "kind": "tracks", **counts,
                    "dates": sorted({d.isoformat() for _, d in keys}), "member_days_queued": queued}
        conn.execute(update(uploads).where(uploads.c.upload_id == upload_id)
                     .values(response=json.dumps(response, ensure_ascii=False)))
        audit.append(conn, actor, "upload.tracks", "upload", str(upload_id),
                     {"content_sha256": content_sha, "source": source, **counts, "member_days_queued": queued})
    return response


def _replay(store: Store, kind: str, request_sha: str, key: str | None, actor: str) -> dict | None:
    with store.read() as conn:
        return _replay_in(conn, kind, request_sha, key, actor)


def _replay_in(conn: Connection, kind: str, request_sha: str, key: str | None, actor: str) -> dict | None:
    """The stored answer of an earlier upload this one repeats: the same Idempotency-Key from the same
    actor (a key names one actor's request: another actor's same key is a different one), or the
    same request content (after the caller's scope was checked)."""
    if key is not None:
        row = conn.execute(select(uploads).where(uploads.c.actor == actor, uploads.c.idempotency_key == key)).first()
        if row is not None:
            if row.request_sha256 != request_sha:
                raise IdempotencyConflict(
                    f"Idempotency-Key {key!r} was used for a different request (upload {row.upload_id}); "
                    "send a new key for new content")
            return {**json.loads(row.response), "replayed": True}
    query = select(uploads).where(uploads.c.kind == kind)
    if kind in REPLACING:
        row = conn.execute(query.order_by(uploads.c.upload_id.desc()).limit(1)).first()
        row = row if row is not None and row.request_sha256 == request_sha else None
    else:
        row = conn.execute(query.where(uploads.c.request_sha256 == request_sha)
                           .order_by(uploads.c.upload_id).limit(1)).first()
    return None if row is None else {**json.loads(row.response), "replayed": True}


def _parse(store: Store, kind: str, body: bytes, suffix: str, params: dict, filename: str | None):
    crs = params.get("crs", "wgs84")
    if kind == "grids":
        return read_body(body, suffix, lambda p: read_grids(p, crs=params.get("crs")), filename)
    if kind == "events":
        return read_body(body, suffix, lambda p: read_events(p, tz=store.tz, crs=crs), filename)
    if kind == "sites":
        return read_body(body, suffix, lambda p: read_sites(p, crs=crs), filename)
    if suffix == ".gpx" and not params.get("member_id"):
        raise InvalidRequest("a GPX track has no member field; pass member_id (the ?member_id= parameter)")
    hints: list[str] = []
    frame = read_body(body, suffix, lambda p: read_track_file(
        p, tz=store.tz, crs=crs, member_id=params.get("member_id"), max_fixes=store.max_fixes_per_upload,
        hints=hints, source=filename or "the upload"), filename)
    frame.attrs["hints"] = hints
    if len(frame) > store.max_fixes_per_upload:
        raise UploadTooLarge(f"the upload holds {len(frame)} fixes; at most {store.max_fixes_per_upload} are "
                             "accepted per request: split the file by member or by day")
    return frame


def _members(kind: str, parsed) -> list[str]:
    if kind == "tracks":
        return [m for m in parsed["member_id"].dropna().unique().tolist()]
    if kind == "events":
        return parsed["member_id"].dropna().unique().tolist()
    return []


def _patrols_of(conn: Connection, *, members=None, grid_ids=None) -> set[Key]:
    """(member, date) of the stored patrols of some members or grids."""
    query = select(patrols.c.member_id, patrols.c.date)
    if members is not None:
        query = query.where(patrols.c.member_id.in_(sorted(members)))
    if grid_ids is not None:
        query = query.where(patrols.c.grid_id.in_(sorted(grid_ids)))
    return {(r.member_id, dt.date.fromisoformat(r.date)) for r in conn.execute(query)}


def _patrol_keys(conn: Connection, keys: set[Key]) -> set[Key]:
    """Those of ``keys`` that have a stored patrol."""
    ids = {make_patrol_id(m, d): (m, d) for m, d in keys}
    found = conn.execute(select(patrols.c.patrol_id).where(patrols.c.patrol_id.in_(sorted(ids)))).scalars()
    return {ids[pid] for pid in found}


def _ingest_tracks(store: Store, conn: Connection, frame: pd.DataFrame, upload_id: int):
    reasons = rejection_reasons(frame, now=store.now(), rules=store.rules.defaults)
    storable = frame["member_id"].notna().to_numpy() & frame["time"].notna().to_numpy()
    table = frame.loc[storable]
    members = table["member_id"].astype(str).to_numpy(dtype=object)
    times = table["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    fix_keys = pd.MultiIndex.from_arrays([members, times])
    stored = _stored_keys(conn, members, times)
    existing = fix_keys.isin(stored) if len(stored) else np.zeros(len(table), dtype=bool)
    # Fixes already stored are duplicates; of repeats within the upload the first is kept.
    new = ~existing & ~fix_keys.duplicated(keep="first")
    columns = fix_columns_from_table(table.loc[new], upload_id)
    check_text(fixes, columns, "fix")
    insert_columns(conn, fixes, columns)  # COPY on PostgreSQL, one executemany on SQLite
    final = reasons.copy()
    final[np.flatnonzero(storable)[existing]] = "duplicate"
    counts = dict.fromkeys(REJECT_REASONS, 0)
    rejected, tally = np.unique(final[final != KEPT].astype(str), return_counts=True)
    counts.update({str(r): int(n) for r, n in zip(rejected, tally)})
    # A fix within max_gap_s of midnight can change the other day too (segments across midnight).
    keys = member_day_keys(members[new], times[new], store.tz, margin_s=max_gap_s(store))
    own = member_day_keys(members[new], times[new], store.tz)
    shown = own | (_patrol_keys(conn, keys - own) if keys - own else set())
    return ({"fixes_read": int(len(frame)), "fixes_stored": int(new.sum()),
             "accepted": int((final == KEPT).sum()), "rejected": counts, "already_stored": int(existing.sum())},
            keys, shown)


def _stored_keys(conn: Connection, members: np.ndarray, times: np.ndarray) -> pd.MultiIndex:
    """(member_id, time_ns) of the stored fixes of ``members`` within the span of ``times``."""
    found_members: list[str] = []
    found_times: list[int] = []
    if len(times):
        names = sorted(set(members.tolist()))
        low, high = int(times.min()), int(times.max())
        for chunk in range(0, len(names), 500):
            for row in conn.execute(select(fixes.c.member_id, fixes.c.time_ns).where(and_(
                    fixes.c.member_id.in_(names[chunk:chunk + 500]), fixes.c.time_ns >= low,
                    fixes.c.time_ns <= high))):
                found_members.append(row.member_id)
                found_times.append(row.time_ns)
    return pd.MultiIndex.from_arrays([np.array(found_members, dtype=object), np.array(found_times, dtype=np.int64)])


def _ingest_grids(store: Store, conn: Connection, parsed, upload_id: int):
    created = updated = unchanged = 0
    members: set[str] = set()
    stamp = utc_now_text()
    for number, grid in enumerate(parsed, start=1):
        values = grid_row(grid)
        check_text(grids, {k: [v] for k, v in values.items()}, "feature", number)
        old = conn.execute(select(grids).where(grids.c.grid_id == grid.grid_id)).first()
        if old is None:
            conn.execute(insert(grids).values(**values, upload_id=upload_id, updated_at=stamp))
            created += 1
        elif any(getattr(old, k) != v for k, v in values.items()):
            conn.execute(update(grids).where(grids.c.grid_id == grid.grid_id)
                         .values(**values, upload_id=upload_id, updated_at=stamp))
            updated += 1
            members.update(json.loads(old.members))
        else:
            unchanged += 1
            continue
        members.update(grid.members)
    keys = _patrols_of(conn, members=members) if members else set()
    return {"grids_read": len(parsed), "created": created, "updated": updated, "unchanged": unchanged}, keys, keys


def _ingest_events(store: Store, conn: Connection, frame: pd.DataFrame, upload_id: int):
    created = duplicate = conflict = 0
    new_events: list[tuple[str, int]] = []
    created_ids: list[tuple[str, str]] = []
    conflicts = []
    for rec in frame.to_dict("records"):
        values: dict[str, Any] = {"event_id": str(rec["event_id"]), "member_id": str(rec["member_id"]),
                  "time_ns": int(pd.Timestamp(rec["time"]).value), "lon": float(rec["lon"]),
                  "lat": float(rec["lat"]), "category": str(rec["category"]),
                  "photo_sha256": None if pd.isna(rec["photo_sha256"]) else str(rec["photo_sha256"]),
                  "description": None if pd.isna(rec["description"]) else str(rec["description"])}
        check_text(events, {**{k: [v] for k, v in values.items()}, "line": [int(rec["line"])]})
        old = conn.execute(select(events).where(events.c.event_id == values["event_id"],
                                                events.c.member_id == values["member_id"])).first()
        if old is None:
            conn.execute(insert(events).values(**values, source="upload", line=int(rec["line"]),
                                               upload_id=upload_id))
            created += 1
            new_events.append((values["member_id"], values["time_ns"]))
            created_ids.append((values["event_id"], values["member_id"]))
        elif all(getattr(old, k) == v for k, v in values.items()):
            duplicate += 1
        else:
            conflict += 1
            conflicts.append(values["event_id"])
    keys = member_day_keys(np.array([m for m, _ in new_events], dtype=object),
                           np.array([t for _, t in new_events], dtype=np.int64), store.tz)
    keys |= _later_duplicates(store, conn, frame, set(created_ids))
    return ({"events_read": len(frame), "created": created,
             "rejected": {"duplicate": duplicate, "conflict": conflict},
             "conflicting_event_ids": conflicts[:20]}, keys, _patrol_keys(conn, keys))


def _later_duplicates(store: Store, conn: Connection, frame: pd.DataFrame,
                      created: set[tuple[str, str]]) -> set[Key]:
    """Member-days of stored events that a new event may make duplicates of it (EVENT_DUPLICATE):
    same category, later within the duplicate window, and near (a box twice the distance)."""
    window_ns = int(max(r.event_duplicate_window_s for r in store.rules.every) * 1e9)
    reach_m = 2 * max(r.event_duplicate_distance_m for r in store.rules.every)
    members, times = [], []
    for rec in frame.to_dict("records"):
        event = (str(rec["event_id"]), str(rec["member_id"]))
        if event not in created:
            continue
        t = int(pd.Timestamp(rec["time"]).value)
        lat, lon = float(rec["lat"]), float(rec["lon"])
        dlon, dlat = degrees_around(reach_m, lat)
        for row in conn.execute(select(events.c.member_id, events.c.time_ns).where(
                events.c.category == str(rec["category"]), events.c.time_ns >= t,
                events.c.time_ns <= t + window_ns,
                ~((events.c.event_id == event[0]) & (events.c.member_id == event[1])),
                events.c.lat >= lat - dlat, events.c.lat <= lat + dlat,
                events.c.lon >= lon - dlon, events.c.lon <= lon + dlon)):
            members.append(row.member_id)
            times.append(row.time_ns)
    return member_day_keys(np.array(members, dtype=object), np.array(times, dtype=np.int64), store.tz)


def _ingest_sites(store: Store, conn: Connection, frame: pd.DataFrame, upload_id: int):
    created = updated = unchanged = 0
    grid_ids: set[str] = set()
    for number, rec in enumerate(frame.to_dict("records"), start=1):
        values: dict[str, Any] = {"site_id": str(rec["site_id"]), "grid_id": str(rec["grid_id"]),
                  "lon": float(rec["lon"]),
                  "lat": float(rec["lat"]), "tier": None if pd.isna(rec["tier"]) else str(rec["tier"]),
                  "name": None if pd.isna(rec["name"]) else str(rec["name"])}
        check_text(sites, {**{k: [v] for k, v in values.items()},
                           **({"line": [int(rec["line"])]} if "line" in rec else {})}, "site", number)
        old = conn.execute(select(sites).where(sites.c.site_id == values["site_id"])).first()
        if old is None:
            conn.execute(insert(sites).values(**values, upload_id=upload_id))
            created += 1
        elif any(getattr(old, k) != v for k, v in values.items()):
            conn.execute(update(sites).where(sites.c.site_id == values["site_id"])
                         .values(**values, upload_id=upload_id))
            updated += 1
            grid_ids.add(old.grid_id)
        else:
            unchanged += 1
            continue
        grid_ids.add(values["grid_id"])
    keys = _patrols_of(conn, grid_ids=grid_ids) if grid_ids else set()
    return {"sites_read": len(frame), "created": created, "updated": updated, "unchanged": unchanged}, keys, keys


def load_large_tracks(store: Store, frame: pd.DataFrame, *, part_fixes: int | None = None, actor: str = "cli",
                      source: str = "bulk", progress: Callable[[int], None] | None = None,
                      verify_progress: Callable[[int], None] | None = None) -> dict:
    """Store a fix table of any size in parts, then verify the days it touches: the same result as
    one upload of the whole table.

    The table is cut into parts of at most ``part_fixes`` fixes (default the store's
    ``max_fixes_per_upload``), each stored in its own writer transaction on the fast path
    (:func:`geoverify.store.ingest.store_fixes`, audited as one upload each, its member-days
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
        part = frame.iloc[start:start + size]
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
    patrols_out = [{"patrol_id": pid, "credit": w["credit"], "changed": pid in changed}
                   for pid, w in sorted(latest.items())]
    return {**totals, "parts": parts, "patrols": patrols_out,
            "ledger_entries": sum(len(w["ledger"]) for w in written), "replayed": False}
