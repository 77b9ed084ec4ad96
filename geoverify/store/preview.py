"""What a review would do, said before it is taken.

The flag's member-day is verified as :func:`geoverify.store.reviews.review_flag` would verify it
(the same :func:`~geoverify.store.verification.prepare` and
:func:`~geoverify.store.neighbours.compare_prepared`, with every stored review and this one),
from a read snapshot: nothing is written, no writer lock is taken. The member-day, its neighbours
and the events around are read once per preview; only the measuring runs once per decision.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, select

from geoverify.errors import InvalidRequest, NotFound
from geoverify.patrol.verify import Patrol
from geoverify.store import ledger
from geoverify.store.db import Store
from geoverify.store.neighbours import compare_prepared, read_around
from geoverify.store.reviews import latest_review
from geoverify.store.schema import flags, patrols
from geoverify.store.tokens import Principal
from geoverify.store.verification import REVIEW_STATUS, measure, read_snapshot


def preview_review(
    store: Store, flag_id: str, reviewer: Principal | str, decisions: tuple[str, ...] = ("confirm", "dismiss")
) -> dict[str, Any]:
    """The flag's patrol as it stands and as it would be after each decision.

    Parameters
    ----------
    flag_id : str
    reviewer : Principal or str
        A supervisor's scope applies (a flag outside it is not found).
    decisions : tuple of {"confirm", "dismiss"}

    Returns
    -------
    dict
        ``flag_id, code, severity, status, patrol_id``; ``previous_review`` (the latest review or
        null) and ``overturn_required`` (a new review must then send ``overturn``); ``current``
        and, per decision, ``outcomes[decision]``: ``flag_status``, ``credit``, ``credit_reasons``,
        ``verified_s``, ``in_grid_s``, ``coverage_ratio`` (null figures when the member has no
        patrol that day), ``changes_credit`` and ``ledger``: the entries the review would append
        (``{"kind": "grant" | "reversal", "points"}``; none before the day settles).

    Raises
    ------
    NotFound
        No such flag, or outside the caller's scope.
    InvalidRequest
        A decision other than confirm or dismiss.
    """
    wrong = [d for d in decisions if d not in REVIEW_STATUS]
    if wrong or not decisions:
        raise InvalidRequest(f"decision must be 'confirm' or 'dismiss', got {wrong[0] if wrong else None!r}")
    with store.read() as conn:
        flag = conn.execute(select(flags).where(flags.c.flag_id == flag_id)).first()
        if flag is None or (isinstance(reviewer, Principal) and not reviewer.sees_grid(flag.grid_id)):
            raise NotFound(f"no flag {flag_id!r}; GET /api/v1/flags lists the flags you can review")
        key = (flag.member_id, dt.date.fromisoformat(flag.date))
        row = conn.execute(select(patrols.c.document).where(patrols.c.patrol_id == flag.patrol_id)).first()
        current = _figures(json.loads(row.document) if row is not None else None)
        snapshot = read_snapshot(store, conn, {key})
        around = None
        outcomes = {}
        for decision in decisions:
            status = REVIEW_STATUS[decision]
            prepared = measure(store, snapshot, {**snapshot.reviews, flag_id: status})
            around = around or read_around(store, conn, prepared)
            found = compare_prepared(store, conn, prepared, around)
            patrol = next((p for p in found.patrols if p.patrol_id == flag.patrol_id), None)
            figures = _figures(_document(patrol, store.tz))
            outcomes[decision] = {
                "flag_status": status,
                **figures,
                "changes_credit": figures["credit"] != current["credit"],
                "ledger": _ledger_effect(store, conn, flag.patrol_id, flag.date, current["credit"], figures["credit"]),
            }
        previous = latest_review(conn, flag_id)
    return {
        "flag_id": flag_id,
        "code": flag.code,
        "severity": flag.severity,
        "status": flag.status,
        "patrol_id": flag.patrol_id,
        "previous_review": previous,
        "overturn_required": previous is not None,
        "current": current,
        "outcomes": outcomes,
    }


def _document(patrol: Patrol | None, tz: str) -> dict | None:
    return None if patrol is None else patrol.to_dict(tz)


def _figures(doc: dict | None) -> dict[str, Any]:
    """The credit and the figures it was judged on, from a patrol document (None: no patrol)."""
    if doc is None:
        return {"credit": None, "credit_reasons": [], "verified_s": None, "in_grid_s": None, "coverage_ratio": None}
    return {
        "credit": {"status": doc["credit"]["status"], "points": doc["credit"]["points"]},
        "credit_reasons": doc.get("credit_reasons", []),
        "verified_s": doc["verified_s"],
        "in_grid_s": doc["in_grid_s"],
        "coverage_ratio": doc["coverage"]["area_ratio"],
    }


def _granted(credit: dict | None) -> float | None:
    """The points a credit has granted in the ledger (None: no grant), as ledger.sync_patrol decides."""
    if credit is None or credit["status"] != "verified" or float(credit["points"]) == 0:
        return None
    return float(credit["points"])


def _ledger_effect(
    store: Store, conn: Connection, patrol_id: str | None, date: str, before: dict | None, after: dict | None
) -> list[dict]:
    """The ledger entries a review that turns ``before`` into ``after`` appends (none while the day
    has not settled). A day due but not yet written is settled first with ``before``."""
    if patrol_id is None or after is None or not store.settled(date):
        return []
    if date > (ledger.last_settled(conn) or ""):
        have = _granted(before)
    else:
        live = ledger.live_grant(conn, patrol_id)
        have = None if live is None else float(live.points)
    wanted = _granted(after)
    if have == wanted:
        return []
    out = [{"kind": "reversal", "points": ledger.number(-have)}] if have is not None else []
    return out + ([{"kind": "grant", "points": ledger.number(wanted)}] if wanted is not None else [])
