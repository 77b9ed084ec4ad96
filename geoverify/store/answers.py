"""What an upload answers: the patrols it touched, each ``current`` (with its stored credit) or
``pending``, after waiting for their verification when the client asked to (``Prefer: wait``)."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import Connection, func, select

from geoverify.store import ledger, queue
from geoverify.store.db import Store
from geoverify.store.schema import ledger as ledger_table
from geoverify.store.schema import patrols
from geoverify.store.verification import Key


def member_day(patrol_id: str) -> Key:
    """The (member, local date) of a patrol id ``<member>_<YYYYMMDD>`` (:func:`geoverify.patrol.verify.patrol_id`)."""
    member, _, day = patrol_id.rpartition("_")
    return member, dt.datetime.strptime(day, "%Y%m%d").date()


def keys_of(response: dict) -> set[Key]:
    """The member-days of an answer's patrols."""
    return {member_day(item["patrol_id"]) for item in response.get("patrols", [])}


def answer(
    store: Store,
    response: dict,
    keys: set[Key],
    wait: float,
    replayed: bool = False,
    ledger_seq: int = 0,
    stored_at: str = "",
    members: frozenset | None = None,
) -> dict:
    """The answer, after waiting up to ``wait`` seconds for ``keys`` to be verified, with each
    patrol's state as it is then (``replayed``: an earlier upload's answer, nothing changed).

    A new upload that waited also counts the ledger entries its patrols got since it was stored
    (after ``ledger_seq``), whoever verified them. Given ``members`` (an uploader's scope), the
    answer names only those members' patrols: an event upload may also queue other members'
    member-days (their later reports it makes duplicates), which are not the uploader's to see.
    """
    if members is not None:
        response = {
            **response,
            "patrols": [p for p in response.get("patrols", []) if member_day(p["patrol_id"])[0] in members],
        }
        keys = {k for k in keys if k[0] in members}
    waited = wait > 0 and bool(keys)
    if not wait and not replayed:
        # A new upload's answer, written as it committed: each of its patrols queued, so pending.
        return response
    if waited:
        from geoverify.store.worker import drain

        drain(store, keys, timeout_s=None if math.isinf(wait) else wait)
    with store.read() as conn:
        if waited and not replayed:
            ids = [p["patrol_id"] for p in response["patrols"]]
            response["ledger_entries"] = (
                conn.execute(
                    select(func.count()).where(ledger_table.c.seq > ledger_seq, ledger_table.c.patrol_id.in_(ids))
                ).scalar_one()
                if ids
                else 0
            )
        return refreshed(conn, response, since=stored_at if waited and not replayed else None)


def refreshed(conn: Connection, response: dict, since: str | None = None) -> dict:
    """The answer's patrols with their state now: ``pending``, or ``current`` with the stored credit
    (and, given ``since``, ``changed``: whether the stored result changed after that UTC time)."""
    ids = [p["patrol_id"] for p in response.get("patrols", [])]
    if not ids:
        return response
    rows = {
        r.patrol_id: r
        for r in conn.execute(
            select(
                patrols.c.patrol_id,
                patrols.c.member_id,
                patrols.c.date,
                patrols.c.credit_status,
                patrols.c.points,
                patrols.c.verified_at,
            ).where(patrols.c.patrol_id.in_(ids))
        )
    }
    keys = {(r.member_id, dt.date.fromisoformat(r.date)): pid for pid, r in rows.items()}
    waiting = {keys[k] for k in queue.pending(conn, keys)}
    out = []
    for pid in ids:
        row = rows.get(pid)
        if row is None or pid in waiting:
            out.append({"patrol_id": pid, "state": "pending"})
            continue
        item = {
            "patrol_id": pid,
            "state": "current",
            "credit": {"status": row.credit_status, "points": ledger.number(row.points)},
        }
        if since is not None:
            item["changed"] = row.verified_at >= since
        out.append(item)
    return {**response, "patrols": out}
