"""The audit log: every state change, appended with SHA-256 hash chaining.

Each entry holds the hash of the previous one (``prev_hash``; 64 zeros for the first) and its
own ``hash``: SHA-256 over the canonical JSON of ``seq, at, actor, action, object_type,
object_id, detail, prev_hash``. Sequence numbers start at 1 and have no holes. ``detail`` is
stored as the canonical JSON text itself (:func:`canonical_json`): a detail stored in any other
spelling (a duplicate key, other spacing, key order or escapes) is refused by
:func:`parse_detail`, so that the text a person reads is the text that was hashed. The newest
``(seq, hash)`` is also kept in ``audit_head``, written in the same transaction.

Signed checkpoints of the head (:mod:`geoverify.store.checkpoints`) anchor the chain outside the
database; :func:`geoverify.store.audit_verify.verify` recomputes everything.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from geoverify.store.clock import utc_now_text
from geoverify.store.schema import audit_head, audit_log
from geoverify.store.writer_lock import take_writer_lock

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "at", "actor", "action", "object_type", "object_id", "prev_hash")


# Key in a connection's ``info`` under which :func:`append` notes the head it appended in the current
# writer transaction; the store checkpoints it when the transaction ends (:mod:`geoverify.store.db`).
AUDIT_APPENDED = "geoverify.audit_appended"


class NotCanonical(ValueError):
    """A stored detail is not the canonical JSON text of its value (the message says how)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise NotCanonical(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def parse_detail(text: str) -> Any:
    """The value of a stored detail, which must be exactly its canonical JSON text.

    Raises
    ------
    NotCanonical
        For a duplicate key (which readers resolve differently), text that is not JSON, or JSON
        spelled otherwise than :func:`canonical_json` writes it.
    """
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
        canonical = canonical_json(value)
    except NotCanonical:
        raise
    except (ValueError, TypeError) as exc:
        raise NotCanonical(f"not JSON that can be hashed ({exc})") from None
    if canonical != text:
        raise NotCanonical(
            "not in canonical JSON (sorted keys, no spaces, UTF-8 text): the stored text "
            "differs from the form that is hashed"
        )
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, UTF-8 text kept: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: dict) -> str:
    """SHA-256 (hex) of an entry's canonical JSON, ``hash`` itself excluded.

    A stored ``detail`` (text) must be canonical JSON (:func:`parse_detail` raises
    :class:`NotCanonical` otherwise); a dict is hashed as its canonical JSON.
    """
    body = {k: entry[k] for k in HASHED_FIELDS}
    body["detail"] = parse_detail(entry["detail"]) if isinstance(entry["detail"], str) else entry["detail"]
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def append(
    conn: Connection, actor: str, action: str, object_type: str, object_id: str | None, detail: dict | None = None
) -> dict:
    """Append one entry; call inside :meth:`Store.write` (which serialises writers).

    Parameters
    ----------
    actor : str
        Token name, ``cli`` or ``system``.
    action : str
        e.g. ``upload.tracks``, ``patrol.verified``, ``flag.reviewed``, ``credit.grant``,
        ``token.created``.
    object_type, object_id : str
        What changed (``object_id`` may be None).
    detail : dict, optional
        Stored as its canonical JSON text.

    Returns
    -------
    dict
        The entry as stored, with its ``seq`` and ``hash``.
    """
    take_writer_lock(conn)  # a transaction that takes the lock late takes it now, before the head is read
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    entry = {
        "seq": seq,
        "at": utc_now_text(),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "detail": canonical_json(detail or {}),
        "prev_hash": prev,
    }
    entry["hash"] = entry_hash(entry)
    conn.execute(insert(audit_log).values(**entry))
    if head:
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=entry["hash"]))
    else:
        conn.execute(insert(audit_head).values(id=1, seq=seq, hash=entry["hash"]))
    conn.info[AUDIT_APPENDED] = (seq, entry["hash"])  # Store.write checkpoints it at the end
    return entry


def _public(row) -> dict:
    out = dict(row._mapping)
    out["detail"] = json.loads(out["detail"])
    return out


def page(conn: Connection, after: int = 0, limit: int = 100) -> dict:
    """Entries with ``seq > after`` in seq order: ``{"entries": [...], "next": seq}``."""
    rows = conn.execute(select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)).all()
    entries = [_public(r) for r in rows]
    return {"entries": entries, "next": entries[-1]["seq"] if entries else after}


def count(conn: Connection) -> int:
    """Number of entries."""
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
