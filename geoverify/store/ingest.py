"""Uploads into the store: grids, tracks, events and sites, idempotent; verification is queued.

Each upload is one writer transaction: the rows, the member-days they touch put on the work
queue (:mod:`geoverify.store.queue`) and the audit entry land together or not at all; a big
track upload is stored in parts that become visible together (:mod:`geoverify.store.track_upload`). Workers
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
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, insert, select, update

from geoverify.errors import Forbidden, IdempotencyConflict, InvalidRequest, UploadTooLarge
from geoverify.io import read_events, read_grids, read_sites, read_track_file
from geoverify.patrol.verify import patrol_id as make_patrol_id
from geoverify.store import audit, queue, storing
from geoverify.store.answers import answer, keys_of
from geoverify.store.bulk import check_text
from geoverify.store.clock import utc_now_text
from geoverify.store.db import Store
from geoverify.store.frames import grid_row
from geoverify.store.schema import events, grids, patrols, sites, uploads
from geoverify.store.schema import ledger as ledger_table
from geoverify.store.track_index import degrees_around
from geoverify.store.track_upload import load_large_tracks as load_large_tracks
from geoverify.store.track_upload import patrol_keys, prepare_fixes, store_tracks
from geoverify.store.track_upload import store_fixes as store_fixes
from geoverify.store.upload_files import read_body
from geoverify.store.verification import Key, member_day_keys

KINDS = ("grids", "tracks", "events", "sites")
# Kinds whose rows are replaced by a newer upload: a repeat is only a no-op when it is the latest.
REPLACING = ("grids", "sites")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(
    store: Store,
    kind: str,
    body: bytes,
    *,
    suffix: str,
    params: dict | None = None,
    actor: str = "cli",
    idempotency_key: str | None = None,
    allowed_members: frozenset | None = None,
    filename: str | None = None,
    wait: float = 0.0,
) -> dict:
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
    request_sha = _sha256(json.dumps({"kind": kind, "params": params, "content": content_sha}, sort_keys=True).encode())
    if allowed_members is None:  # an admin or the command line may repeat anything: replay before parsing
        replay = _replay(store, kind, request_sha, idempotency_key, actor)
        if replay is not None:
            return answer(store, replay, keys_of(replay), wait, replayed=True)
    parsed = _parse(store, kind, body, suffix, params, filename)
    if allowed_members is not None:  # an uploader's scope is checked before anything is replayed
        members = set(_members(kind, parsed))
        outside = sorted(members - set(allowed_members))
        if outside:
            raise Forbidden(
                f"this token may upload only for members {', '.join(sorted(allowed_members))}; "
                f"the upload holds {', '.join(outside[:10])}"
            )
    row = {
        "kind": kind,
        "content_sha256": content_sha,
        "request_sha256": request_sha,
        "idempotency_key": idempotency_key,
        "actor": actor,
        "created_at": utc_now_text(),
    }
    hints = parsed.attrs.get("hints", []) if kind == "tracks" else []
    noted: dict = {}

    def finish(conn: Connection, upload_id: int, counts: dict, keys: set, shown: set) -> dict:
        """Queue the member-days, write the answer and audit the upload (in its last transaction)."""
        queued = queue.enqueue(conn, keys)
        # Only an upload that waits counts the ledger entries its patrols get after this.
        last_seq = conn.execute(select(func.max(ledger_table.c.seq))).scalar_one() if wait > 0 else None
        noted.update(keys=keys, ledger_seq=last_seq or 0, stored_at=utc_now_text())
        response = {
            "upload_id": upload_id,
            "kind": kind,
            "content_sha256": content_sha,
            **counts,
            **({"warnings": hints} if kind == "tracks" else {}),
            "patrols": [
                {"patrol_id": make_patrol_id(m, d), "state": "pending"}
                for m, d in sorted(shown, key=lambda k: (k[1], k[0]))
            ],
            "ledger_entries": 0,
            "replayed": False,
        }
        conn.execute(
            update(uploads)
            .where(uploads.c.upload_id == upload_id)
            .values(response=json.dumps(response, ensure_ascii=False, default=str))
        )
        audit.append(
            conn,
            actor,
            f"upload.{kind}",
            "upload",
            str(upload_id),
            {
                "content_sha256": content_sha,
                "idempotency_key": idempotency_key,
                "params": params,
                **{k: v for k, v in counts.items() if k != "patrols"},
                "member_days_queued": queued,
            },
        )
        return response

    def replay_in(conn: Connection, ignore: int | None = None) -> dict | None:
        return _replay_in(conn, kind, request_sha, idempotency_key, actor, ignore)

    if kind == "tracks":  # stored in parts, each a short writer transaction (track_upload)
        storing.reap_now_and_then(store)
        replay, response = store_tracks(store, prepare_fixes(store, parsed), row, finish=finish, replay=replay_in)
    else:
        with store.write() as conn:
            replay, response = replay_in(conn), None
            if replay is None:
                upload_id = conn.execute(
                    insert(uploads).values(**row, response="{}").returning(uploads.c.upload_id)
                ).scalar_one()
                ingest = {"grids": _ingest_grids, "events": _ingest_events, "sites": _ingest_sites}[kind]
                counts, keys, shown = ingest(store, conn, parsed, upload_id)
                response = finish(conn, upload_id, counts, keys, shown)
    if replay is not None:
        return answer(store, replay, keys_of(replay), wait, replayed=True, members=allowed_members)
    if store.wake is not None and not wait:
        store.wake.set()  # an upload that waits verifies its own member-days
    assert response is not None
    return answer(
        store,
        response,
        noted["keys"],
        wait,
        ledger_seq=noted["ledger_seq"],
        stored_at=noted["stored_at"],
        members=allowed_members,
    )


def _replay(store: Store, kind: str, request_sha: str, key: str | None, actor: str) -> dict | None:
    with store.read() as conn:
        try:
            return _replay_in(conn, kind, request_sha, key, actor)
        except storing.DeadInTheWay:  # discarded when this upload is stored
            return None


def _replay_in(
    conn: Connection, kind: str, request_sha: str, key: str | None, actor: str, ignore: int | None = None
) -> dict | None:
    """The stored answer of an earlier upload this one repeats: the same Idempotency-Key from the same
    actor (a key names one actor's request: another actor's same key is a different one), or the
    same request content (after the caller's scope was checked); never upload ``ignore`` (this
    upload's own row)."""
    if key is not None:
        row = conn.execute(select(uploads).where(uploads.c.actor == actor, uploads.c.idempotency_key == key)).first()
        if row is not None:
            if row.request_sha256 != request_sha:
                raise IdempotencyConflict(
                    f"Idempotency-Key {key!r} was used for a different request (upload {row.upload_id}); "
                    "send a new key for new content"
                )
            storing.check(row)  # still being stored: 409 (or discarded first when it is dead)
            return {**json.loads(row.response), "replayed": True}
    query = select(uploads).where(uploads.c.kind == kind)
    if ignore is not None:
        query = query.where(uploads.c.upload_id != ignore)
    if kind in REPLACING:
        row = conn.execute(query.order_by(uploads.c.upload_id.desc()).limit(1)).first()
        row = row if row is not None and row.request_sha256 == request_sha else None
    else:
        row = conn.execute(
            query.where(uploads.c.request_sha256 == request_sha).order_by(uploads.c.upload_id).limit(1)
        ).first()
        if row is not None:
            storing.check(row)
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
    frame = read_body(
        body,
        suffix,
        lambda p: read_track_file(
            p,
            tz=store.tz,
            crs=crs,
            member_id=params.get("member_id"),
            max_fixes=store.max_fixes_per_upload,
            hints=hints,
            source=filename or "the upload",
        ),
        filename,
    )
    frame.attrs["hints"] = hints
    if len(frame) > store.max_fixes_per_upload:
        raise UploadTooLarge(
            f"the upload holds {len(frame)} fixes; at most {store.max_fixes_per_upload} are "
            "accepted per request: split the file by member or by day"
        )
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
            conn.execute(
                update(grids)
                .where(grids.c.grid_id == grid.grid_id)
                .values(**values, upload_id=upload_id, updated_at=stamp)
            )
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
        values: dict[str, Any] = {
            "event_id": str(rec["event_id"]),
            "member_id": str(rec["member_id"]),
            "time_ns": int(pd.Timestamp(rec["time"]).value),
            "lon": float(rec["lon"]),
            "lat": float(rec["lat"]),
            "category": str(rec["category"]),
            "photo_sha256": None if pd.isna(rec["photo_sha256"]) else str(rec["photo_sha256"]),
            "description": None if pd.isna(rec["description"]) else str(rec["description"]),
        }
        check_text(events, {**{k: [v] for k, v in values.items()}, "line": [int(rec["line"])]})
        old = conn.execute(
            select(events).where(events.c.event_id == values["event_id"], events.c.member_id == values["member_id"])
        ).first()
        if old is None:
            conn.execute(insert(events).values(**values, source="upload", line=int(rec["line"]), upload_id=upload_id))
            created += 1
            new_events.append((values["member_id"], values["time_ns"]))
            created_ids.append((values["event_id"], values["member_id"]))
        elif all(getattr(old, k) == v for k, v in values.items()):
            duplicate += 1
        else:
            conflict += 1
            conflicts.append(values["event_id"])
    keys = member_day_keys(
        np.array([m for m, _ in new_events], dtype=object),
        np.array([t for _, t in new_events], dtype=np.int64),
        store.tz,
    )
    keys |= _later_duplicates(store, conn, frame, set(created_ids))
    return (
        {
            "events_read": len(frame),
            "created": created,
            "rejected": {"duplicate": duplicate, "conflict": conflict},
            "conflicting_event_ids": conflicts[:20],
        },
        keys,
        patrol_keys(conn, keys),
    )


def _later_duplicates(store: Store, conn: Connection, frame: pd.DataFrame, created: set[tuple[str, str]]) -> set[Key]:
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
        for row in conn.execute(
            select(events.c.member_id, events.c.time_ns).where(
                events.c.category == str(rec["category"]),
                events.c.time_ns >= t,
                events.c.time_ns <= t + window_ns,
                ~((events.c.event_id == event[0]) & (events.c.member_id == event[1])),
                events.c.lat >= lat - dlat,
                events.c.lat <= lat + dlat,
                events.c.lon >= lon - dlon,
                events.c.lon <= lon + dlon,
            )
        ):
            members.append(row.member_id)
            times.append(row.time_ns)
    return member_day_keys(np.array(members, dtype=object), np.array(times, dtype=np.int64), store.tz)


def _ingest_sites(store: Store, conn: Connection, frame: pd.DataFrame, upload_id: int):
    created = updated = unchanged = 0
    grid_ids: set[str] = set()
    for number, rec in enumerate(frame.to_dict("records"), start=1):
        values: dict[str, Any] = {
            "site_id": str(rec["site_id"]),
            "grid_id": str(rec["grid_id"]),
            "lon": float(rec["lon"]),
            "lat": float(rec["lat"]),
            "tier": None if pd.isna(rec["tier"]) else str(rec["tier"]),
            "name": None if pd.isna(rec["name"]) else str(rec["name"]),
        }
        check_text(
            sites,
            {**{k: [v] for k, v in values.items()}, **({"line": [int(rec["line"])]} if "line" in rec else {})},
            "site",
            number,
        )
        old = conn.execute(select(sites).where(sites.c.site_id == values["site_id"])).first()
        if old is None:
            conn.execute(insert(sites).values(**values, upload_id=upload_id))
            created += 1
        elif any(getattr(old, k) != v for k, v in values.items()):
            conn.execute(
                update(sites).where(sites.c.site_id == values["site_id"]).values(**values, upload_id=upload_id)
            )
            updated += 1
            grid_ids.add(old.grid_id)
        else:
            unchanged += 1
            continue
        grid_ids.add(values["grid_id"])
    keys = _patrols_of(conn, grid_ids=grid_ids) if grid_ids else set()
    return {"sites_read": len(frame), "created": created, "updated": updated, "unchanged": unchanged}, keys, keys
