"""Flag reviews: an auditor confirms or dismisses a flag; the flag's member-day is re-verified with
every stored review and the credit change lands in the ledger in the same transaction.

A flag's first review decides it; a later one overturns that decision and must say so
(``overturn``), with a note saying why. Every review stays on record: :func:`review_history`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from geoverify.errors import InvalidRequest, NotFound, ReviewConflict
from geoverify.store import audit
from geoverify.store.clock import utc_now_text
from geoverify.store.db import Store
from geoverify.store.schema import flags, reviews
from geoverify.store.tokens import Principal
from geoverify.store.verification import REVIEW_STATUS, verify_now

MAX_NOTE_CHARS = 4000
REVIEW_FIELDS = ("review_id", "decision", "note", "reviewer", "created_at")


def review_flag(
    store: Store,
    flag_id: str,
    decision: str | None,
    note: str | None,
    reviewer: Principal | str,
    *,
    overturn: bool = False,
) -> dict:
    """Record a review and apply it.

    Parameters
    ----------
    decision : {"confirm", "dismiss"}
    note : str
        Why; required (an auditor's decision must be explained).
    reviewer : Principal or str
        The auditor (its name is recorded).
    overturn : bool
        Must be True when the flag was reviewed before: the review then replaces that decision
        (the audit log records which review it overturns).

    Returns
    -------
    dict
        ``flag`` (with its new status), ``review``, ``patrol_id``, ``credit`` (after the review)
        and ``ledger`` (entries appended).

    Raises
    ------
    NotFound
        No such flag (or outside the reviewer's scope).
    InvalidRequest
        A decision other than confirm/dismiss, or an empty note.
    ReviewConflict
        The flag was reviewed before and ``overturn`` is not True (checked in the writer
        transaction, so of two auditors deciding at once the second is told).
    """
    if not isinstance(overturn, bool):
        raise InvalidRequest(f"overturn must be true or false, got {overturn!r}")
    if not isinstance(decision, str) or decision not in REVIEW_STATUS:
        raise InvalidRequest(f"decision must be 'confirm' or 'dismiss', got {decision!r}")
    if not isinstance(note, str) or not note.strip():
        raise InvalidRequest("a review needs a note saying why (the 'note' field)")
    if "\x00" in note:
        raise InvalidRequest("the note contains a NUL character (\\x00); send plain text")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidRequest(f"the note has {len(note)} characters; at most {MAX_NOTE_CHARS} are kept")
    name = reviewer.name if isinstance(reviewer, Principal) else str(reviewer)
    with store.write() as conn:
        flag = conn.execute(select(flags).where(flags.c.flag_id == flag_id)).first()
        if flag is None or (isinstance(reviewer, Principal) and not reviewer.sees_grid(flag.grid_id)):
            raise NotFound(f"no flag {flag_id!r}; GET /api/v1/flags lists the flags you can review")
        previous = latest_review(conn, flag_id)
        if previous is not None and not overturn:
            raise ReviewConflict(
                f"flag {flag_id!r} was already {previous['decision']} by {previous['reviewer']} at "
                f'{previous["created_at"]}; to overturn that decision send "overturn": true with a note '
                "saying why",
                previous,
            )
        status = REVIEW_STATUS[decision]
        review = {
            "flag_id": flag_id,
            "decision": status,
            "note": note.strip(),
            "reviewer": name,
            "created_at": utc_now_text(),
        }
        review_id = conn.execute(insert(reviews).values(**review).returning(reviews.c.review_id)).scalar_one()
        audit.append(
            conn,
            name,
            "flag.reviewed",
            "flag",
            flag_id,
            {
                "decision": status,
                "note": review["note"],
                "review_id": review_id,
                "previous_status": flag.status,
                "overturns": previous["review_id"] if previous is not None else None,
            },
        )
        verified = verify_now(store, conn, {(flag.member_id, dt.date.fromisoformat(flag.date))}, name)
        after = conn.execute(select(flags.c.status).where(flags.c.flag_id == flag_id)).first()
    mine = next((p for p in verified if p["patrol_id"] == flag.patrol_id), None)
    return {
        "flag": {
            "flag_id": flag_id,
            "code": flag.code,
            "severity": flag.severity,
            "status": after.status if after is not None else status,
        },
        "review": {"review_id": review_id, **review},
        "patrol_id": flag.patrol_id,
        "credit": mine["credit"] if mine else None,
        "ledger": mine["ledger"] if mine else [],
    }


def latest_review(conn: Connection, flag_id: str) -> dict | None:
    """The flag's latest review (``review_id, decision, note, reviewer, created_at``), or None."""
    row = conn.execute(
        select(*(reviews.c[k] for k in REVIEW_FIELDS))
        .where(reviews.c.flag_id == flag_id)
        .order_by(reviews.c.review_id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def review_history(conn: Connection, flag_ids: Iterable[str]) -> dict[str, list[dict]]:
    """Every review of the given flags, oldest first: flag_id → list of ``review_id, decision
    (confirmed | dismissed), note, reviewer, created_at`` (UTC)."""
    ids = sorted(set(flag_ids))
    out: dict[str, list[dict]] = {}
    for chunk in range(0, len(ids), 500):
        rows = conn.execute(
            select(reviews.c.flag_id, *(reviews.c[k] for k in REVIEW_FIELDS))
            .where(reviews.c.flag_id.in_(ids[chunk : chunk + 500]))
            .order_by(reviews.c.review_id)
        )
        for row in rows:
            out.setdefault(row.flag_id, []).append({k: getattr(row, k) for k in REVIEW_FIELDS})
    return out
