"""A day at a glance for a supervisor: every grid of the caller's scope with the state of its
patrols that day, every patrol with its credit and flag counts, and every flag of the day with its
place. Read side only; the map page's overview (``GET /api/v1/map/day``) draws it.

A patrol's **day state** is, in this order of precedence:

``held``
    its credit is held (an open high-severity flag);
``rejected``
    an auditor confirmed a high-severity flag;
``below``
    verified, but it earns 0 points (too little verified time or coverage, or no grid);
``flagged``
    it earns points and has an open flag (patrol or event flag);
``credited``
    it earns points and nothing is open.

A grid's state is the first of these that one of its patrols has, or ``none`` when nobody
patrolled it that day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy import Connection, func, select

from geoverify.flags import SEVERITIES
from geoverify.rules import RuleSet
from geoverify.store import queue
from geoverify.store.schema import flags, grids, patrols

#: Patrol states, the most urgent first; a grid takes the first state one of its patrols has.
STATES = ("held", "rejected", "below", "flagged", "credited")
GRID_STATES = STATES + ("none",)
_CHUNK = 500  # ids per IN (...) list


def latest_date(conn: Connection, grid_scope: frozenset | None = None) -> str | None:
    """The latest local date with a patrol in ``grid_scope`` (None: any), or None."""
    query = select(func.max(patrols.c.date))
    if grid_scope is not None:
        query = query.where(patrols.c.grid_id.in_(sorted(grid_scope)))
    return conn.execute(query).scalar_one_or_none()


def patrol_dates(conn: Connection, grid_scope: frozenset | None = None, limit: int = 400) -> list[str]:
    """Local dates with a patrol in ``grid_scope`` (None: any), the latest first, at most ``limit``."""
    query = select(patrols.c.date).distinct().order_by(patrols.c.date.desc()).limit(limit)
    if grid_scope is not None:
        query = query.where(patrols.c.grid_id.in_(sorted(grid_scope)))
    return [row.date for row in conn.execute(query)]


def patrol_state(status: str, points: float, open_flags: int) -> str:
    """The day state of a patrol from its credit status, points and number of open flags.

    Parameters
    ----------
    status : str
        ``verified``, ``held`` or ``rejected``.
    points : float
        The credit's points.
    open_flags : int
        Flags of the patrol (its own and its event reports') no auditor has reviewed.

    Returns
    -------
    str
        One of :data:`STATES`.
    """
    if status in ("held", "rejected"):
        return status
    if points <= 0:
        return "below"
    return "flagged" if open_flags else "credited"


def _below_reasons(doc: dict, rules) -> list[str]:
    """Why a verified patrol earns nothing: ``no_grid``, ``time``, ``coverage``."""
    if doc.get("grid_id") is None:
        return ["no_grid"]
    reasons = []
    if (doc.get("verified_s") or 0) < rules.min_verified_s:
        reasons.append("time")
    if ((doc.get("coverage") or {}).get("area_ratio") or 0) < rules.min_coverage_ratio:
        reasons.append("coverage")
    return reasons


def _day_flags(conn: Connection, date: str, patrol_ids: list[str], grid_scope: frozenset | None) -> list:
    """Flag rows of the day's patrols, and event flags of that day that have no patrol."""
    rows: list = []
    for start in range(0, len(patrol_ids), _CHUNK):
        rows += conn.execute(select(flags).where(flags.c.patrol_id.in_(patrol_ids[start : start + _CHUNK]))).all()
    orphans = select(flags).where(flags.c.patrol_id.is_(None), flags.c.date == date)
    if grid_scope is not None:
        orphans = orphans.where(flags.c.grid_id.in_(sorted(grid_scope)))
    rows += conn.execute(orphans).all()
    return sorted(rows, key=lambda r: (r.start or "", r.flag_id))


def day_overview(conn: Connection, date: str, rules: RuleSet, grid_scope: frozenset | None = None) -> dict:
    """Grids, patrols and flags of one local date, as the map's overview shows them.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    date : str
        Local ISO date.
    rules : geoverify.rules.RuleSet
        To say why a patrol earns nothing (each grid type's thresholds).
    grid_scope : frozenset, optional
        Grid ids the caller may see (None: every grid).

    Returns
    -------
    dict
        ``date``; ``grids`` (``grid_id``, ``name``, ``state``, ``patrols``, ``open_flags``,
        ``states``: patrols per state); ``patrols`` (``patrol_id``, ``member_id``, ``grid_id``,
        ``verified_s``, ``coverage``, ``credit``, ``state``, ``below`` reasons, ``flags``,
        ``open_flags``, ``severity`` of the worst open flag, open ``codes``, ``pending``);
        ``flags`` (``flag_id``, ``patrol_id``, ``event_id``, ``member_id``, ``grid_id``, ``code``,
        ``severity``, ``status``, ``start``, ``lon``, ``lat``); ``counts`` of grids and patrols
        per state and of open flags per severity; ``thresholds`` of the default rules.
    """
    grid_query = select(grids.c.grid_id, grids.c.name, grids.c.grid_type).order_by(grids.c.grid_id)
    patrol_query = (
        select(patrols.c.patrol_id, patrols.c.member_id, patrols.c.grid_id, patrols.c.date, patrols.c.document)
        .where(patrols.c.date == date)
        .order_by(patrols.c.patrol_id)
    )
    if grid_scope is not None:
        grid_query = grid_query.where(grids.c.grid_id.in_(sorted(grid_scope)))
        patrol_query = patrol_query.where(patrols.c.grid_id.in_(sorted(grid_scope)))
    grid_rows = conn.execute(grid_query).all()
    grid_type = {r.grid_id: r.grid_type for r in grid_rows}
    patrol_rows = conn.execute(patrol_query).all()
    flag_rows = _day_flags(conn, date, [r.patrol_id for r in patrol_rows], grid_scope)
    waiting = queue.pending(conn, [(r.member_id, dt.date.fromisoformat(r.date)) for r in patrol_rows])

    by_patrol: dict[str, list] = {}
    for row in flag_rows:
        if row.patrol_id is not None:
            by_patrol.setdefault(row.patrol_id, []).append(row)
    patrol_items = []
    for row in patrol_rows:
        doc = json.loads(row.document)
        mine = by_patrol.get(row.patrol_id, [])
        open_ = [f for f in mine if f.status == "open"]
        state = patrol_state(doc["credit"]["status"], doc["credit"]["points"], len(open_))
        worst = next((s for s in SEVERITIES if any(f.severity == s for f in open_)), None)
        patrol_items.append(
            {
                "patrol_id": row.patrol_id,
                "member_id": row.member_id,
                "grid_id": row.grid_id,
                "verified_s": doc["verified_s"],
                "coverage": (doc.get("coverage") or {}).get("area_ratio"),
                "credit": doc["credit"],
                "state": state,
                "below": _below_reasons(doc, rules.for_grid_type(grid_type.get(row.grid_id)))
                if state == "below"
                else [],
                "flags": len(mine),
                "open_flags": len(open_),
                "severity": worst,
                "codes": sorted({f.code for f in open_}),
                "pending": (row.member_id, dt.date.fromisoformat(row.date)) in waiting,
            }
        )

    by_grid: dict[str, list] = {}
    for item in patrol_items:
        by_grid.setdefault(item["grid_id"], []).append(item)
    orphans_open = Counter(f.grid_id for f in flag_rows if f.patrol_id is None and f.status == "open")
    grid_items = []
    for row in grid_rows:
        mine = by_grid.get(row.grid_id, [])
        states = Counter(p["state"] for p in mine)
        grid_items.append(
            {
                "grid_id": row.grid_id,
                "name": row.name,
                "state": next((s for s in STATES if states[s]), "none"),
                "patrols": len(mine),
                "states": {s: states[s] for s in STATES if states[s]},
                "open_flags": sum(p["open_flags"] for p in mine) + orphans_open[row.grid_id],
            }
        )

    flag_items = [
        {
            k: getattr(r, k)
            for k in (
                "flag_id",
                "patrol_id",
                "event_id",
                "member_id",
                "grid_id",
                "code",
                "severity",
                "status",
                "start",
                "lon",
                "lat",
            )
        }
        for r in flag_rows
    ]
    defaults = rules.defaults
    return {
        "date": date,
        "grids": grid_items,
        "patrols": patrol_items,
        "flags": flag_items,
        "counts": {
            "grids": {s: sum(g["state"] == s for g in grid_items) for s in GRID_STATES},
            "patrols": {s: sum(p["state"] == s for p in patrol_items) for s in STATES},
            "open_flags": {
                s: sum(f["status"] == "open" and f["severity"] == s for f in flag_items) for s in SEVERITIES
            },
        },
        "thresholds": {
            "min_verified_s": defaults.min_verified_s,
            "min_coverage_ratio": defaults.min_coverage_ratio,
            "points_per_patrol": defaults.points_per_patrol,
        },
    }
