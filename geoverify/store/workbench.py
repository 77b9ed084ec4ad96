"""The auditor's queue: open flags ordered by what their review decides.

Each open flag gets a ``stake``, computed from the stored patrol and the flag's evidence:

- ``held_credit``: a high-severity flag holding its patrol's credit; ``points`` is what the patrol
  earns once released if its verified time and coverage meet the rule (else 0), ``seconds`` its
  verified time;
- ``could_earn``: a flag whose stretch is taken off a 0-point patrol that would reach the
  required verified time with it back (``points`` the points it would then earn);
- ``time``: a flag whose dismissal gives back ``seconds`` of patrol time without changing points;
- ``none``: the rest (event reports' flags, flags whose dismissal gives nothing back).

The queue lists held credit first, then what could earn, then by seconds, severity, date and id.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, select

from geoverify.flags import SEVERITIES
from geoverify.patrol.credit import EXCLUDING_CODES
from geoverify.rules import RuleSet
from geoverify.store.queries import MAX_PAGE, _filtered, _scoped, flag_dict, members_in_scope
from geoverify.store.schema import flags, patrols

KINDS = ("held_credit", "could_earn", "time", "none")
SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}
#: the evidence figure that says how much patrol time a dismissal gives back, per code
RESTORED_KEY = {
    **{code: "excluded_in_grid_s" for code in EXCLUDING_CODES},
    "TELEPORT": "excluded_s",
    "GAP": "duration_s",
    "GPS_OUTLIER": "uncounted_s",
}


def review_queue(
    conn: Connection,
    rules: RuleSet,
    *,
    code: str | None = None,
    grid_id: str | None = None,
    member_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    offset: int = 0,
    limit: int = 100,
    grid_scope: frozenset | None = None,
) -> dict[str, Any]:
    """Open flags, most at stake first: ``{"flags", "total", "offset", "next_offset"}``.

    Parameters
    ----------
    rules : RuleSet
        Thresholds for patrols stored without ``credit_reasons``.
    code, grid_id, member_id, date_from, date_to, offset, limit, grid_scope
        As :func:`geoverify.store.queries.list_flags`.

    Returns
    -------
    dict
        Each flag as ``GET /flags`` shows it, with ``stake`` (``kind``, ``points``, ``seconds``)
        and ``patrol_credit`` (the patrol's ``status`` and ``points``, null for no patrol).
    """
    query = _filtered(
        _scoped(
            select(
                flags,
                patrols.c.credit_status,
                patrols.c.points.label("patrol_points"),
                patrols.c.verified_s.label("patrol_verified_s"),
            ).outerjoin(patrols, patrols.c.patrol_id == flags.c.patrol_id),
            flags.c.grid_id,
            grid_scope,
        ),
        flags,
        {"status": "open", "code": code, "grid_id": grid_id, "member_id": member_id},
        date_from,
        date_to,
    )
    rows = conn.execute(query).all()
    documents = _documents(conn, {r.patrol_id for r in rows if _needs_document(r)})
    seen = members_in_scope(conn, grid_scope)
    items = []
    for row in rows:
        item = flag_dict(_flag_only(row), seen)
        item["stake"] = stake(row, item["evidence"], documents.get(row.patrol_id), rules)
        item["patrol_credit"] = (
            None if row.credit_status is None else {"status": row.credit_status, "points": _number(row.patrol_points)}
        )
        items.append(item)
    items.sort(key=_order)
    page = items[offset : offset + min(limit, MAX_PAGE)]
    after = offset + len(page)
    return {"flags": page, "total": len(items), "offset": offset, "next_offset": after if after < len(items) else None}


def stake(row, evidence: dict, document: dict | None, rules: RuleSet) -> dict[str, Any]:
    """What reviewing the flag of ``row`` (a flag row joined with its patrol's credit) decides."""
    if row.event_id is not None or row.credit_status is None:
        return {"kind": "none", "points": 0, "seconds": 0.0}
    required_s, required_cover, per_patrol = _thresholds(document, rules)
    coverage = float((document or {}).get("coverage", {}).get("area_ratio", 0.0))
    verified = float(row.patrol_verified_s)
    if row.severity == "high" and row.credit_status == "held":
        earns = verified >= required_s and coverage >= required_cover
        return {"kind": "held_credit", "points": per_patrol if earns else 0, "seconds": round(verified, 3)}
    restored = float(evidence.get(RESTORED_KEY.get(row.code, ""), 0.0) or 0.0)
    if restored <= 0:
        return {"kind": "none", "points": 0, "seconds": 0.0}
    if (
        row.credit_status == "verified"
        and float(row.patrol_points) == 0
        and coverage >= required_cover
        and verified < required_s <= verified + restored
    ):
        return {"kind": "could_earn", "points": per_patrol, "seconds": round(restored, 3)}
    return {"kind": "time", "points": 0, "seconds": round(restored, 3)}


def _order(item: dict) -> tuple:
    s = item["stake"]
    return (
        KINDS.index(s["kind"]),
        -s["points"],
        -s["seconds"],
        SEVERITY_ORDER.get(item["severity"], 3),
        item["date"] or "",
        item["flag_id"],
    )


def _needs_document(row) -> bool:
    """Whether the stake needs the patrol's coverage and thresholds (held, or a 0-point patrol)."""
    return (
        row.credit_status is not None
        and row.event_id is None
        and (row.credit_status == "held" or (row.credit_status == "verified" and float(row.patrol_points) == 0))
    )


def _documents(conn: Connection, patrol_ids: set[str]) -> dict[str, dict]:
    ids = sorted(patrol_ids)
    out = {}
    for chunk in range(0, len(ids), 500):
        for r in conn.execute(
            select(patrols.c.patrol_id, patrols.c.document).where(patrols.c.patrol_id.in_(ids[chunk : chunk + 500]))
        ):
            out[r.patrol_id] = json.loads(r.document)
    return out


def _thresholds(document: dict | None, rules: RuleSet) -> tuple[float, float, float]:
    """(required verified seconds, required coverage, points per patrol) the patrol was judged by."""
    reasons = {r["rule"]: r for r in (document or {}).get("credit_reasons", [])}
    if "verified_time" in reasons and "coverage" in reasons and "points" in reasons:
        return (
            float(reasons["verified_time"]["required_s"]),
            float(reasons["coverage"]["required"]),
            _number(reasons["points"]["points_per_patrol"]),
        )
    fallback = rules.defaults
    return fallback.min_verified_s, fallback.min_coverage_ratio, _number(fallback.points_per_patrol)


def _flag_only(row) -> SimpleNamespace:
    """The flag columns of a joined row, as :func:`flag_dict` reads them."""
    return SimpleNamespace(_mapping={c.name: row._mapping[c.name] for c in flags.columns})


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
