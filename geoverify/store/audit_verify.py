"""Verifying the audit log: the chain itself, the ledger against it, and both against checkpoints.

One pass in seq order (entries, ledger rows and checkpoints are read a few thousand at a time):

- the chain: seqs 1, 2, … without holes, each ``prev_hash`` the previous entry's hash, each detail
  stored as canonical JSON (no duplicate keys), each hash recomputed;
- the ledger cross-check: every ``credit.grant`` / ``credit.reversal`` entry holds a ledger entry;
  the ledger row of that seq must exist, equal it field by field and name this audit entry
  (``chain_seq``, ``chain_hash``); a ledger row that no audit entry holds is reported too;
- checkpoints, stored ones and those of a file an auditor kept (``kept``): the entry at each
  checkpoint's seq must have the checkpoint's hash (else the chain was rewritten and recomputed),
  the log must reach the highest checkpoint (else it was truncated or emptied), and the newest
  checkpoint of each source, the first of each signing key and any that disagrees with the log
  must carry a valid signature of a trusted key. Older checkpoints that agree with the log need no
  signature check: the hash at a later valid checkpoint covers every entry before it.

The result names the first broken seq and why (``cause``, ``reason``).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Table, select

from geoverify.store import checkpoints as cps
from geoverify.store.audit import GENESIS, HASHED_FIELDS, NotCanonical, canonical_json, parse_detail
from geoverify.store.ledger import ENTRY_FIELDS, entry_dict
from geoverify.store.schema import audit_head, audit_log, ledger

CREDIT_ACTIONS = {"credit.grant": "grant", "credit.reversal": "reversal"}
NO_CHECKPOINT = (
    "no checkpoint: truncation, an emptied log or a recomputed chain cannot be detected; set "
    "GEOVERIFY_AUDIT_KEY so that the store signs checkpoints (see docs/audit.md)"
)


class Broken(Exception):
    """The first break found: its seq, a cause code and a reason for a person."""

    def __init__(self, seq: int, cause: str, reason: str, **extra):
        super().__init__(reason)
        self.seq, self.cause, self.reason, self.extra = seq, cause, reason, extra


def _rows(conn: Connection, table: Table, chunk: int = 5000) -> Iterator:
    """Rows of ``table`` in ``seq`` order, ``chunk`` at a time (keyset paging)."""
    after = None
    while True:
        query = select(table).order_by(table.c.seq).limit(chunk)
        if after is not None:
            query = query.where(table.c.seq > after)
        rows = conn.execute(query).all()
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].seq


def _anchors(conn: Connection, kept: list[dict]) -> Iterator[dict]:
    """Stored and kept checkpoints merged by seq; ``check`` marks those whose signature is always
    checked (the newest of each source, the first of each key)."""
    newest_stored = cps.latest(conn)

    def mark(items, newest_seq):
        key_id = None
        for item in items:
            yield {**item, "check": item["seq"] == newest_seq or item["key_id"] != key_id}
            key_id = item["key_id"]

    stored = ({**c, "source": "stored"} for c in cps.stored(conn))
    return heapq.merge(
        mark(stored, newest_stored and newest_stored["seq"]),
        mark(kept, kept[-1]["seq"] if kept else None),
        key=lambda c: c["seq"],
    )


def _where(anchor: dict) -> str:
    return (
        f"the checkpoint of seq {anchor['seq']} signed at {anchor['at']} ({anchor['source']}, key {anchor['key_id']})"
    )


def _check_signature(anchor: dict, public_keys: dict) -> str:
    status = cps.signature_status(anchor, public_keys)
    if status == "invalid":
        raise Broken(
            anchor["seq"],
            "bad_signature",
            f"{_where(anchor)} has an invalid signature: the checkpoint was altered or forged",
        )
    if status == "untrusted":
        raise Broken(
            anchor["seq"],
            "bad_signature",
            f"{_where(anchor)} is signed by key {anchor['key_id']}, "
            "which is not a trusted key: it was not made with the audit key (forged), or that key's "
            "public half was not given (--public-key)",
        )
    return status


def _value(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_ledger(entry: dict, detail, digest: str, rows: Iterator) -> None:
    """The ledger row held by a credit audit entry must exist and agree with it."""
    seq = entry["seq"]
    if not isinstance(detail, dict) or set(detail) != set(ENTRY_FIELDS) or not isinstance(detail["seq"], int):
        raise Broken(seq, "ledger_mismatch", f"audit entry seq {seq} ({entry['action']}) does not hold a ledger entry")
    want = detail["seq"]
    row = next(rows, None)
    if row is not None and row.seq < want:
        raise Broken(
            seq,
            "ledger_unaudited",
            f"ledger entry seq {row.seq} ({row.credit_id}) has no audit entry "
            "(inserted into the ledger directly, or its audit entry was removed)",
            ledger_seq=row.seq,
        )
    if row is None or row.seq > want:
        raise Broken(
            seq,
            "ledger_missing",
            f"audit entry seq {seq} records ledger entry seq {want} "
            f"({detail['credit_id']}), which the ledger does not hold (deleted)",
            ledger_seq=want,
        )
    stored = entry_dict(row)
    differences = [
        f"{k} is {_value(stored[k])} in the ledger, {_value(detail[k])} in the audit log"
        for k in ENTRY_FIELDS
        if stored[k] != detail[k]
    ]
    if CREDIT_ACTIONS[entry["action"]] != detail["kind"] or entry["object_id"] != detail["credit_id"]:
        differences.append(f"the audit entry is {entry['action']} of {entry['object_id']}")
    if row.chain_seq != seq:
        differences.append(f"chain_seq is {_value(row.chain_seq)} in the ledger, the audit entry's seq is {seq}")
    if row.chain_hash != digest:
        differences.append(f"chain_hash is {_value(row.chain_hash)} in the ledger, the audit entry's hash is {digest}")
    if differences:
        raise Broken(
            seq,
            "ledger_mismatch",
            f"ledger entry seq {want} ({row.credit_id}) differs from its audit "
            f"entry seq {seq}: {'; '.join(differences)}",
            ledger_seq=want,
        )


def _check_entry(entry: dict, expected: int, prev: str) -> tuple[object, str]:
    """The entry's detail value and recomputed hash, or :class:`Broken`."""
    if entry["seq"] != expected:
        raise Broken(expected, "missing", f"seq {expected} is missing (next stored entry is {entry['seq']})")
    if entry["prev_hash"] != prev:
        raise Broken(
            expected, "relinked", "prev_hash does not match the previous entry's hash (deleted, inserted or reordered)"
        )
    try:
        detail = parse_detail(entry["detail"])
    except NotCanonical as exc:
        raise Broken(
            expected,
            "not_canonical",
            f"the entry's detail is {exc}: it was edited (the hashed text must be canonical JSON)",
        ) from None
    body = {k: entry[k] for k in HASHED_FIELDS}
    body["detail"] = detail
    digest = hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
    if digest != entry["hash"]:
        raise Broken(expected, "edited", "the entry's content does not match its hash (edited)")
    return detail, digest


def verify(conn: Connection, *, public_keys: dict | None = None, kept: list[dict] | tuple = ()) -> dict:
    """Check the audit chain, the ledger against it, and both against the latest checkpoints.

    Parameters
    ----------
    conn : Connection
        A read transaction (one snapshot).
    public_keys : dict, optional
        Trusted public keys by key id (:func:`geoverify.store.checkpoints.load_public_keys`); without
        any, signatures are not checked (a warning says so).
    kept : list of dict
        Checkpoints an auditor kept outside the database
        (:func:`geoverify.store.checkpoints.read_kept`), in seq order.

    Returns
    -------
    dict
        ``ok``, ``first_broken`` (seq or None), ``cause`` (``missing``, ``relinked``, ``edited``,
        ``not_canonical``, ``ledger_mismatch``, ``ledger_missing``, ``ledger_unaudited``,
        ``rewritten``, ``bad_signature``, ``truncated``, ``emptied``, ``head_mismatch``; None when ok),
        ``reason``, ``entries``, ``ledger_entries``, ``head_hash`` (None when broken),
        ``checkpoint`` (the newest checkpoint the log matches: seq, hash, at, key_id, source and
        ``signature`` valid/unchecked; or None) and ``warnings``.
    """
    kept = list(kept)
    walk: dict[str, Any] = {"entries": 0, "ledger_entries": 0, "checkpoint": None, "warnings": []}
    try:
        head_hash = _walk(conn, public_keys or {}, kept, walk)
    except Broken as broken:
        return {
            "ok": False,
            "first_broken": broken.seq,
            "cause": broken.cause,
            "reason": broken.reason,
            **broken.extra,
            "head_hash": None,
            **walk,
        }
    return {"ok": True, "first_broken": None, "cause": None, "reason": None, "head_hash": head_hash, **walk}


def _walk(conn: Connection, public_keys: dict, kept: list[dict], walk: dict) -> str:
    prev, expected, last_match = GENESIS, 1, None
    rows = _counted(_rows(conn, ledger), walk)
    anchors = _anchors(conn, kept)
    anchor = next(anchors, None)
    unchecked = False
    for row in _rows(conn, audit_log):
        entry = dict(row._mapping)
        walk["entries"] += 1
        detail, digest = _check_entry(entry, expected, prev)
        if entry["action"] in CREDIT_ACTIONS:
            _check_ledger(entry, detail, digest, rows)
        while anchor is not None and anchor["seq"] <= expected:
            if anchor["seq"] < expected or anchor["hash"] != digest:
                _check_signature(anchor, public_keys)
                earlier = (
                    f"the last checkpoint that matches is seq {last_match['seq']}"
                    if last_match
                    else "no earlier checkpoint matches"
                )
                raise Broken(
                    anchor["seq"],
                    "rewritten",
                    f"the entry at seq {anchor['seq']} has hash {digest}, but "
                    f"{_where(anchor)} says {anchor['hash']}: the log was rewritten and the chain "
                    f"recomputed ({earlier})",
                )
            status = _check_signature(anchor, public_keys) if anchor["check"] else None
            unchecked = unchecked or status == "unchecked"
            last_match = {**anchor, "signature": status}
            anchor = next(anchors, None)
        prev, expected = digest, expected + 1
    last_seq = expected - 1
    if anchor is not None:
        for later in anchors:  # the highest checkpoint beyond the end
            anchor = later
        _check_signature(anchor, public_keys)
        if last_seq == 0:
            raise Broken(
                1,
                "emptied",
                f"the audit log is empty but {_where(anchor)} covers seq {anchor['seq']}: every entry was deleted",
            )
        raise Broken(
            last_seq + 1,
            "truncated",
            f"the log ends at seq {last_seq} but {_where(anchor)} covers seq "
            f"{anchor['seq']}: entries {last_seq + 1} to {anchor['seq']} were deleted",
        )
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if (head is None and last_seq) or (head is not None and (head.seq, head.hash) != (last_seq, prev)):
        raise Broken(
            last_seq + 1 if head and head.seq > last_seq else max(last_seq, 1),
            "head_mismatch",
            "the log's last entry does not match the recorded head (entries deleted at the end or the head was edited)",
        )
    leftover = next(rows, None)
    if leftover is not None:
        raise Broken(
            last_seq + 1,
            "ledger_unaudited",
            f"ledger entry seq {leftover.seq} ({leftover.credit_id}) "
            "has no audit entry (inserted into the ledger directly, or its audit entry was removed)",
            ledger_seq=leftover.seq,
        )
    _finish(walk, last_match, last_seq, public_keys, unchecked)
    return prev


def _counted(rows: Iterator, walk: dict) -> Iterator:
    for row in rows:
        walk["ledger_entries"] += 1
        yield row


def _finish(walk: dict, last_match: dict | None, last_seq: int, public_keys: dict, unchecked: bool) -> None:
    """The checkpoint the log matches, and warnings about what could not be checked."""
    if last_match is None:
        if last_seq:
            walk["warnings"].append(NO_CHECKPOINT)
        return
    if last_match["signature"] is None:
        last_match["signature"] = cps.signature_status(last_match, public_keys)
    walk["checkpoint"] = {k: last_match[k] for k in ("seq", "hash", "at", "key_id", "source", "signature")}
    if unchecked or last_match["signature"] == "unchecked":
        walk["warnings"].append(
            "checkpoint signatures were not checked: no public key (pass --public-key FILE, or set GEOVERIFY_AUDIT_KEY)"
        )
    if last_match["seq"] < last_seq:
        walk["warnings"].append(
            f"entries {last_match['seq'] + 1} to {last_seq} are after the latest checkpoint "
            "(written while no audit key was configured?); `geoverify audit checkpoint` "
            "signs the head now"
        )
