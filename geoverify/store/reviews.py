"""Flag reviews: an auditor confirms or dismisses a flag; the flag's member-day is re-verified with
every stored review and the credit change lands in the ledger in the same transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from ..errors import InvalidRequest, NotFound
from . import audit
from .db import Store, utc_now_text
from .schema import flags, reviews
from .tokens import Principal
from .verification import REVIEW_STATUS, verify_now

MAX_NOTE_CHARS = 4000


def review_flag(store: Store, flag_id: str, decision: str | None, note: str | None,
                reviewer: Principal | str) -> dict:
    """Record a review and apply it.

    Parameters
    ----------
    decision : {"confirm", "dismiss"}
    note : str
        Why; required (an auditor's decision must be explained).
    reviewer : Principal or str
        The auditor (its name is recorded).

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
    """
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
        status = REVIEW_STATUS[decision]
        review = {"flag_id": flag_id, "decision": status, "note": note.strip(), "reviewer": name,
                  "created_at": utc_now_text()}
        review_id = conn.execute(insert(reviews).values(**review).returning(reviews.c.review_id)).scalar_one()
        audit.append(conn, name, "flag.reviewed", "flag", flag_id,
                     {"decision": status, "note": review["note"], "review_id": review_id,
                      "previous_status": flag.status})
        verified = verify_now(store, conn, {(flag.member_id, dt.date.fromisoformat(flag.date))}, name)
        after = conn.execute(select(flags.c.status).where(flags.c.flag_id == flag_id)).first()
    mine = next((p for p in verified if p["patrol_id"] == flag.patrol_id), None)
    return {"flag": {"flag_id": flag_id, "code": flag.code, "severity": flag.severity,
                     "status": after.status if after is not None else status},
            "review": {"review_id": review_id, **review}, "patrol_id": flag.patrol_id,
            "credit": mine["credit"] if mine else None, "ledger": mine["ledger"] if mine else []}
