"""The audit log: every state change, appended with SHA-256 hash chaining.

Each entry holds the hash of the previous one (``prev_hash``; 64 zeros for the first) and its
own ``hash``: SHA-256 over the canonical JSON of ``seq, at, actor, action, object_type,
object_id, detail, prev_hash``. Sequence numbers start at 1 and have no holes. The newest
``(seq, hash)`` is also kept in ``audit_head``, written in the same transaction, so that
deleting the last entries is caught as well. :func:`verify_chain` recomputes everything.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from .db import utc_now_text
from .schema import audit_head, audit_log

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, UTF-8 text kept: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: dict) -> str:
    """SHA-256 (hex) of an entry's canonical JSON, ``hash`` itself excluded."""
    body = {k: entry[k] for k in ("seq", "at", "actor", "action", "object_type", "object_id", "prev_hash")}
    body["detail"] = json.loads(entry["detail"]) if isinstance(entry["detail"], str) else entry["detail"]
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def append(conn: Connection, actor: str, action: str, object_type: str, object_id: str | None,
           detail: dict | None = None) -> dict:
    """Append one entry; call inside :meth:`Store.write` (which serialises writers).

    Parameters
    ----------
    actor : str
        Token name, ``cli`` or ``system``.
    action : str
        e.g. ``upload.tracks``, ``patrol.verified``, ``flag.reviewed``, ``credit.grant``,
        ``token.created``.
    """
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    entry = {"seq": seq, "at": utc_now_text(), "actor": actor, "action": action, "object_type": object_type,
             "object_id": object_id, "detail": canonical_json(detail or {}), "prev_hash": prev}
    entry["hash"] = entry_hash(entry)
    conn.execute(insert(audit_log).values(**entry))
    if head:
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=entry["hash"]))
    else:
        conn.execute(insert(audit_head).values(id=1, seq=seq, hash=entry["hash"]))
    return entry


def _public(row) -> dict:
    out = dict(row._mapping)
    out["detail"] = json.loads(out["detail"])
    return out


def page(conn: Connection, after: int = 0, limit: int = 100) -> dict:
    """Entries with ``seq > after`` in seq order: ``{"entries": [...], "next": seq}``."""
    rows = conn.execute(select(audit_log).where(audit_log.c.seq > after)
                        .order_by(audit_log.c.seq).limit(limit)).all()
    entries = [_public(r) for r in rows]
    return {"entries": entries, "next": entries[-1]["seq"] if entries else after}


def verify_chain(conn: Connection) -> dict:
    """Recompute the chain.

    Returns
    -------
    dict
        ``{"ok": bool, "first_broken": seq or None, "entries": n, "reason": text or None,
        "head_hash": hash of the last entry}``. ``first_broken`` is the first seq whose stored
        hash, link to the previous entry, or position does not check out (for a deleted tail:
        the first missing seq).
    """
    prev, expected_seq, count = GENESIS, 1, 0
    result = conn.execute(select(audit_log).order_by(audit_log.c.seq))
    for row in result:
        entry = dict(row._mapping)
        count += 1
        reason = None
        if entry["seq"] != expected_seq:
            reason = f"seq {expected_seq} is missing (next stored entry is {entry['seq']})"
        elif entry["prev_hash"] != prev:
            reason = "prev_hash does not match the previous entry's hash (deleted, inserted or reordered)"
        else:
            try:
                recomputed = entry_hash(entry)
            except (ValueError, TypeError):
                recomputed = None
            if recomputed != entry["hash"]:
                reason = "the entry's content does not match its hash (edited)"
        if reason:
            result.close()
            return {"ok": False, "first_broken": expected_seq, "entries": count, "reason": reason,
                    "head_hash": None}
        prev, expected_seq = entry["hash"], expected_seq + 1
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    last_seq = expected_seq - 1
    if (head is None and last_seq) or (head is not None and (head.seq, head.hash) != (last_seq, prev)):
        return {"ok": False, "first_broken": last_seq + 1 if head and head.seq > last_seq else max(last_seq, 1),
                "entries": count, "head_hash": None,
                "reason": "the log's last entry does not match the recorded head (entries deleted at the end "
                          "or the head was edited)"}
    return {"ok": True, "first_broken": None, "entries": count, "reason": None, "head_hash": prev}


def count(conn: Connection) -> int:
    """Number of entries."""
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
