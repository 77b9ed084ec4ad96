"""The credit ledger: append-only grants and reversals (spec "Ledger").

A patrol has a live grant while its credit status is ``verified`` (points possibly 0). When
its credit changes (points, verified_s, rule_version, grid or status) :func:`sync_patrol`
appends a reversal of the live grant and, if still verified, a new grant; unchanged credit
appends nothing. Rows are only ever inserted. ``seq`` is assigned inside the store's writer
transaction (:meth:`Store.write`), so entries become visible in seq order.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, func, insert, select

from . import audit
from .db import utc_now_text
from .schema import ledger

ENTRY_FIELDS = ("credit_id", "seq", "kind", "reverses", "patrol_id", "member_id", "grid_id", "date", "points",
                "verified_s", "rule_version", "created_at")


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def entry_dict(row) -> dict:
    """A ledger row as the API and export show it."""
    out = {k: row._mapping[k] for k in ENTRY_FIELDS}
    out["points"] = _number(out["points"])
    out["verified_s"] = round(float(out["verified_s"]), 3)
    return out


def live_grant(conn: Connection, patrol_id: str):
    """The patrol's unreversed grant (a row), or None."""
    last = conn.execute(select(ledger).where(ledger.c.patrol_id == patrol_id)
                        .order_by(ledger.c.seq.desc()).limit(1)).first()
    return last if last is not None and last.kind == "grant" else None


def _append(conn: Connection, actor: str, **values) -> dict:
    seq = int(conn.execute(select(func.coalesce(func.max(ledger.c.seq), 0))).scalar_one()) + 1
    values.update(seq=seq, credit_id=f"cr_{uuid.uuid4().hex[:20]}", created_at=utc_now_text())
    conn.execute(insert(ledger).values(**values))
    row = conn.execute(select(ledger).where(ledger.c.seq == seq)).first()
    entry = entry_dict(row)
    audit.append(conn, actor, f"credit.{values['kind']}", "credit", entry["credit_id"], entry)
    return entry


def sync_patrol(conn: Connection, patrol: dict, actor: str = "system") -> list[dict]:
    """Bring the ledger in line with a patrol's current credit; returns the appended entries.

    Parameters
    ----------
    patrol : dict
        ``patrol_id, member_id, grid_id, date`` (ISO), ``verified_s`` (seconds),
        ``rule_version`` and ``credit`` ``{"status", "points"}``.
    """
    live = live_grant(conn, patrol["patrol_id"])
    verified_s = round(float(patrol["verified_s"]), 3)
    wanted = None
    if patrol["credit"]["status"] == "verified":
        wanted = (float(patrol["credit"]["points"]), verified_s, patrol["rule_version"], patrol["grid_id"])
    if live is not None and wanted == (float(live.points), round(float(live.verified_s), 3), live.rule_version,
                                       live.grid_id):
        return []
    appended = []
    if live is not None:
        appended.append(_append(conn, actor, kind="reversal", reverses=live.credit_id, patrol_id=live.patrol_id,
                                member_id=live.member_id, grid_id=live.grid_id, date=live.date,
                                points=-float(live.points), verified_s=float(live.verified_s),
                                rule_version=live.rule_version))
    if wanted is not None:
        appended.append(_append(conn, actor, kind="grant", reverses=None, patrol_id=patrol["patrol_id"],
                                member_id=patrol["member_id"], grid_id=patrol["grid_id"], date=patrol["date"],
                                points=wanted[0], verified_s=verified_s, rule_version=patrol["rule_version"]))
    return appended


def page(conn: Connection, after: int = 0, limit: int = 100, *, patrol_id: str | None = None) -> dict:
    """Entries with ``seq > after`` in seq order: ``{"entries": [...], "next": seq to pass as after}``.

    ``next`` is the last returned seq (``after`` itself when nothing is new), so a scorer that
    stores it and asks again sees every entry exactly once.
    """
    query = select(ledger).where(ledger.c.seq > after)
    if patrol_id is not None:
        query = query.where(ledger.c.patrol_id == patrol_id)
    rows = conn.execute(query.order_by(ledger.c.seq).limit(limit)).all()
    entries = [entry_dict(r) for r in rows]
    return {"entries": entries, "next": entries[-1]["seq"] if entries else after}


def balance(conn: Connection, patrol_id: str) -> float:
    """Sum of the patrol's entries: its points as the scorer should count them."""
    return float(conn.execute(select(func.coalesce(func.sum(ledger.c.points), 0.0))
                              .where(ledger.c.patrol_id == patrol_id)).scalar_one())
