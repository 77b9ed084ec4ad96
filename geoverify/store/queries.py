"""Read side of the store: patrols, flags and grids, filtered by the caller's scope.

``grid_scope`` is the set of grid ids a supervisor may see (None: everything).
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Connection, func, select

from geoverify.errors import NotFound
from geoverify.store import queue
from geoverify.store.schema import flags, grids, patrols

MAX_PAGE = 1000


def _scoped(query, column, grid_scope):
    return query if grid_scope is None else query.where(column.in_(sorted(grid_scope)))


def _filtered(query, table, equal: dict, date_from: str | None, date_to: str | None):
    """``query`` narrowed to rows whose columns equal the given values and whose ``date`` lies in
    [date_from, date_to]; ``None`` means no condition."""
    for name, value in equal.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    if date_from is not None:
        query = query.where(table.c.date >= date_from)
    if date_to is not None:
        query = query.where(table.c.date <= date_to)
    return query


def list_patrols(
    conn: Connection,
    *,
    member_id: str | None = None,
    grid_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    offset: int = 0,
    limit: int = 100,
    grid_scope: frozenset | None = None,
) -> dict:
    """Patrols in (date, patrol_id) order: ``{"patrols", "total", "offset", "next_offset"}``.

    Dates are local ISO dates, both ends included.
    """
    query = _filtered(
        _scoped(select(patrols), patrols.c.grid_id, grid_scope),
        patrols,
        {"member_id": member_id, "grid_id": grid_id},
        date_from,
        date_to,
    )
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(
        query.order_by(patrols.c.date, patrols.c.patrol_id).offset(offset).limit(min(limit, MAX_PAGE))
    ).all()
    waiting = queue.pending(conn, [(r.member_id, dt.date.fromisoformat(r.date)) for r in rows])
    # The patrol's own flags and its event reports' flags, as GET /patrols/{id} shows them.
    counts: dict[str, int] = (
        dict(
            conn.execute(
                select(flags.c.patrol_id, func.count())
                .where(flags.c.patrol_id.in_([r.patrol_id for r in rows]))
                .group_by(flags.c.patrol_id)
            ).all()
        )
        if rows
        else {}
    )
    items = []
    for r in rows:
        doc = json.loads(r.document)
        items.append(
            {k: doc[k] for k in ("patrol_id", "member_id", "date", "grid_id", "verified_s", "credit", "rule_version")}
            | {
                "credit_reasons": doc.get("credit_reasons", []),
                "flags": int(counts.get(r.patrol_id, 0)),
                "state": _state(waiting, r.member_id, r.date),
            }
        )
    after = offset + len(items)
    return {"patrols": items, "total": int(total), "offset": offset, "next_offset": after if after < total else None}


def get_patrol(conn: Connection, patrol_id: str, grid_scope: frozenset | None = None) -> dict:
    """The patrol object of the command line's JSON (flags with ids and statuses)."""
    row = conn.execute(select(patrols).where(patrols.c.patrol_id == patrol_id)).first()
    if row is None or (grid_scope is not None and row.grid_id not in grid_scope):
        raise NotFound(f"no patrol {patrol_id!r}; GET /api/v1/patrols lists the patrols you can see")
    doc = json.loads(row.document)
    status = {
        r.flag_id: r.status
        for r in conn.execute(select(flags.c.flag_id, flags.c.status).where(flags.c.patrol_id == patrol_id))
    }
    for flag in doc["flags"]:
        flag["status"] = status.get(flag["flag_id"], flag.get("status", "open"))
    seen = members_in_scope(conn, grid_scope)
    doc["event_flags"] = [
        flag_dict(r, seen)
        for r in conn.execute(select(flags).where(flags.c.patrol_id == patrol_id, flags.c.event_id.is_not(None)))
    ]
    _with_reviews(conn, doc["flags"] + doc["event_flags"])
    _explain_rejections(doc)
    doc["verified_at"] = row.verified_at
    waiting = queue.pending(conn, [(row.member_id, dt.date.fromisoformat(row.date))])
    doc["state"] = _state(waiting, row.member_id, row.date)
    return doc


def _state(waiting: dict, member_id: str, date: str) -> str:
    """``pending`` while newer input waits to be verified, else ``current``."""
    return "pending" if (member_id, dt.date.fromisoformat(date)) in waiting else "current"


def members_in_scope(conn: Connection, grid_scope: frozenset | None) -> frozenset | None:
    """Members assigned to the grids of ``grid_scope`` (None: the caller sees every member)."""
    if grid_scope is None:
        return None
    rows = conn.execute(select(grids.c.members).where(grids.c.grid_id.in_(sorted(grid_scope))))
    return frozenset(m for r in rows for m in json.loads(r.members))


def flag_dict(row, members_seen: frozenset | None = None) -> dict:
    """A flag row as the API shows it.

    Given ``members_seen`` (a supervisor's members), an ``EVENT_DUPLICATE`` whose earlier report
    is another member's outside them keeps its figures (distance, time apart, category) but not
    whose report it was: ``earlier_member_id`` and ``earlier_event_id`` are null and
    ``earlier_in_scope`` is false.
    """
    out = dict(row._mapping)
    evidence = json.loads(out["evidence"])
    earlier = evidence.get("earlier_member_id")
    if members_seen is not None and earlier is not None and earlier not in members_seen:
        evidence.update(earlier_member_id=None, earlier_event_id=None, earlier_in_scope=False)
    out["evidence"] = evidence
    return out


def list_flags(
    conn: Connection,
    *,
    status: str | None = None,
    code: str | None = None,
    grid_id: str | None = None,
    member_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    offset: int = 0,
    limit: int = 100,
    grid_scope: frozenset | None = None,
) -> dict:
    """Flags in (date, flag_id) order, filtered: ``{"flags", "total", "offset", "next_offset"}``.

    Dates are the local ISO dates of the flags' patrols, both ends included.
    """
    query = _filtered(
        _scoped(select(flags), flags.c.grid_id, grid_scope),
        flags,
        {"status": status, "code": code, "grid_id": grid_id, "member_id": member_id},
        date_from,
        date_to,
    )
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(flags.c.date, flags.c.flag_id).offset(offset).limit(min(limit, MAX_PAGE))).all()
    seen = members_in_scope(conn, grid_scope)
    items = _with_reviews(conn, [flag_dict(r, seen) for r in rows])
    after = offset + len(items)
    return {"flags": items, "total": int(total), "offset": offset, "next_offset": after if after < total else None}


def _with_reviews(conn: Connection, items: list[dict]) -> list[dict]:
    """Each flag with ``reviews``: who decided what, when and why, oldest first."""
    from geoverify.store.reviews import review_history

    history = review_history(conn, [f["flag_id"] for f in items])
    for flag in items:
        flag["reviews"] = history.get(flag["flag_id"], [])
    return items


def _explain_rejections(doc: dict) -> None:
    """A ``rejected`` credit reason names the review that confirmed its flag (``review``)."""
    reviews = {f["flag_id"]: f["reviews"] for f in doc["flags"]}
    for reason in doc.get("credit_reasons", []):
        if reason.get("rule") == "rejected" and reviews.get(reason.get("flag_id")):
            reason["review"] = reviews[reason["flag_id"]][-1]


def list_grids(conn: Connection, grid_scope: frozenset | None = None) -> list[dict]:
    """Grids as GeoJSON Features (WGS-84)."""
    rows = conn.execute(_scoped(select(grids), grids.c.grid_id, grid_scope).order_by(grids.c.grid_id)).all()
    return [grid_feature(r) for r in rows]


def grid_feature(row) -> dict:
    """A grid row as a GeoJSON Feature."""
    return {
        "type": "Feature",
        "geometry": json.loads(row.geometry),
        "properties": {
            "kind": "grid",
            "grid_id": row.grid_id,
            "name": row.name,
            "grid_type": row.grid_type,
            "members": json.loads(row.members),
        },
    }
