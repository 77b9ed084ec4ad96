"""Signed checkpoints of the audit chain's head, and the Ed25519 key that signs them.

A checkpoint says "the audit log's entry ``seq`` has hash ``hash``" at a time ``at``, signed with
an Ed25519 key kept outside the database (``GEOVERIFY_AUDIT_KEY``): someone who can change the
database but not read that file cannot make one. Because each entry's hash covers every entry
before it, a valid checkpoint vouches for the whole log up to its seq.

With a key configured, :meth:`geoverify.store.Store.write` signs one at the end of every writer
transaction that appended to the log (:func:`make`), in the same transaction; ``geoverify audit
checkpoint`` signs the current head on demand. Checkpoints are exported as JSON Lines
(:func:`export`) for an auditor to keep outside the database and verify against later
(:func:`geoverify.store.audit_verify.verify`).

The signed message is ``b"geoverify audit checkpoint v1\\n"`` followed by the canonical JSON of
``{"seq", "hash", "at", "key_id"}``; ``key_id`` is the first 16 hex digits of the SHA-256 of the
raw 32-byte public key; signatures are stored in base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from sqlalchemy import Connection, func, insert, select

from geoverify.errors import AuditKeyError, InputError
from geoverify.store.audit import canonical_json
from geoverify.store.clock import utc_now_text
from geoverify.store.schema import audit_checkpoints, audit_head

SIGNING_CONTEXT = b"geoverify audit checkpoint v1\n"
FIELDS = ("seq", "hash", "at", "key_id", "signature")


@dataclass(frozen=True)
class AuditKey:
    """The private key that signs checkpoints, its ``key_id`` and the file it came from."""

    private_key: Ed25519PrivateKey
    key_id: str
    path: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The matching public key."""
        return self.private_key.public_key()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: names the key in checkpoints."""
    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM text (SubjectPublicKeyInfo)."""
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def generate(out: str | Path) -> tuple[Path, Path, str]:
    """Write a new private key to ``out`` (PEM, mode 0600) and its public key to ``out.pub``.

    Returns
    -------
    tuple
        The private key file, the public key file and the key id.

    Raises
    ------
    AuditKeyError
        When either file exists already (a key is never overwritten).
    """
    out = Path(out)
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise AuditKeyError(
                f"{path} exists; a key is never overwritten: choose another --out, or move the "
                "old key away first (checkpoints it signed stay verifiable with its .pub)"
            )
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public.write_text(public_pem(key.public_key()), encoding="ascii")
    return out, public, key_id_of(key.public_key())


def load_private_key(path: str | Path) -> AuditKey:
    """The audit key in the PEM file ``path`` (as ``GEOVERIFY_AUDIT_KEY`` names it).

    Raises
    ------
    AuditKeyError
        Missing or unreadable file, group- or world-accessible file (POSIX), or not an Ed25519
        private key.
    """
    path = Path(path)
    source = f"GEOVERIFY_AUDIT_KEY={path}"
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(
            "no such file; create a key with `geoverify audit keygen --out PATH` and point "
            "GEOVERIFY_AUDIT_KEY at it (or unset GEOVERIFY_AUDIT_KEY)",
            source=source,
        ) from None
    except OSError as exc:
        raise AuditKeyError(f"cannot read the key file ({exc.strerror})", source=source) from None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise AuditKeyError(
            f"the key file is readable by other users (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`",
            source=source,
        )
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(
            f"not an unencrypted PEM private key ({exc}); make one with `geoverify audit keygen`", source=source
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError("not an Ed25519 key; make one with `geoverify audit keygen`", source=source)
    return AuditKey(key, key_id_of(key.public_key()), str(path))


def load_public_keys(paths: list[str | Path]) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys by key id, from PEM files (as ``geoverify audit keygen`` writes ``.pub``).

    Raises
    ------
    AuditKeyError
        A file that cannot be read or holds no Ed25519 public key.
    """
    keys = {}
    for path in paths:
        try:
            key = load_pem_public_key(Path(path).read_bytes())
        except OSError as exc:
            raise AuditKeyError(f"cannot read the public key ({exc.strerror})", source=str(path)) from None
        except (ValueError, TypeError):
            raise AuditKeyError(
                "not a PEM public key; pass the .pub file `geoverify audit keygen` wrote", source=str(path)
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError("not an Ed25519 public key", source=str(path))
        keys[key_id_of(key)] = key
    return keys


def signed_message(checkpoint: dict) -> bytes:
    """The bytes a checkpoint's signature covers."""
    body = {k: checkpoint[k] for k in ("seq", "hash", "at", "key_id")}
    return SIGNING_CONTEXT + canonical_json(body).encode("utf-8")


def sign(key: AuditKey, seq: int, digest: str, at: str | None = None) -> dict:
    """A checkpoint of entry ``seq`` with hash ``digest``, signed now (or at ``at``)."""
    checkpoint = {"seq": int(seq), "hash": digest, "at": at or utc_now_text(), "key_id": key.key_id}
    checkpoint["signature"] = base64.b64encode(key.private_key.sign(signed_message(checkpoint))).decode("ascii")
    return checkpoint


def signature_status(checkpoint: dict, public_keys: dict[str, Ed25519PublicKey] | None) -> str:
    """``valid``, ``invalid`` (altered or forged), ``untrusted`` (a key id not among ``public_keys``)
    or ``unchecked`` (no public key given at all)."""
    if not public_keys:
        return "unchecked"
    key = public_keys.get(checkpoint.get("key_id", ""))
    if key is None:
        return "untrusted"
    try:
        key.verify(base64.b64decode(checkpoint["signature"], validate=True), signed_message(checkpoint))
    except (InvalidSignature, binascii.Error, ValueError, TypeError, KeyError):
        return "invalid"
    return "valid"


def make(conn: Connection, key: AuditKey, head: tuple[int, str] | None = None) -> dict | None:
    """Sign and store a checkpoint of ``head`` (``(seq, hash)``; default the recorded head).

    Returns None when there is nothing to checkpoint (an empty log) or that seq has one already.
    Call inside :meth:`Store.write`.
    """
    if head is None:
        row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        if row is None:
            return None
        head = (row.seq, row.hash)
    seq, digest = head
    if conn.execute(select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == seq)).first() is not None:
        return None
    checkpoint = sign(key, seq, digest)
    conn.execute(insert(audit_checkpoints).values(**checkpoint))
    return checkpoint


def latest(conn: Connection) -> dict | None:
    """The stored checkpoint of the highest seq, or None."""
    row = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else dict(row._mapping)


def page(conn: Connection, after: int = 0, limit: int = 100) -> dict:
    """Stored checkpoints with ``seq > after`` in seq order: ``{"checkpoints", "next", "latest"}``."""
    rows = conn.execute(
        select(audit_checkpoints).where(audit_checkpoints.c.seq > after).order_by(audit_checkpoints.c.seq).limit(limit)
    ).all()
    found = [dict(r._mapping) for r in rows]
    return {"checkpoints": found, "next": found[-1]["seq"] if found else after, "latest": latest(conn)}


def stored(conn: Connection, after: int = 0, chunk: int = 5000):
    """The stored checkpoints with ``seq > after`` in seq order (dicts), read ``chunk`` at a time."""
    while True:
        rows = conn.execute(
            select(audit_checkpoints)
            .where(audit_checkpoints.c.seq > after)
            .order_by(audit_checkpoints.c.seq)
            .limit(chunk)
        ).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < chunk:
            return
        after = rows[-1].seq


def count(conn: Connection) -> int:
    """Number of stored checkpoints."""
    return int(conn.execute(select(func.count()).select_from(audit_checkpoints)).scalar_one())


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate is not None:
        raise ValueError(f"duplicate key {duplicate!r}")
    return dict(pairs)


def read_kept(path: str | Path) -> list[dict]:
    """The checkpoints of a JSON Lines file an auditor kept (as :func:`export` writes it), in seq order.

    Raises
    ------
    InputError
        A line that is not a checkpoint object (the message names the file and line), or a file
        without any checkpoint.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the checkpoint file ({exc})", source=str(path)) from None
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, object_pairs_hook=_no_duplicates)
        except ValueError as exc:
            raise InputError(f"not a JSON object ({exc})", source=str(path), line=number) from None
        if (
            not isinstance(item, dict)
            or set(FIELDS) - set(item)
            or type(item["seq"]) is not int
            or item["seq"] < 1
            or not all(isinstance(item[k], str) for k in FIELDS[1:])
        ):
            raise InputError(
                f"a checkpoint needs {', '.join(FIELDS)} (seq a whole number >= 1, the others "
                "text); export them with `geoverify audit checkpoints --export FILE`",
                source=str(path),
                line=number,
            )
        kept.append({**{k: item[k] for k in FIELDS}, "source": f"{path}, line {number}"})
    if not kept:
        raise InputError("no checkpoint in the file", source=str(path))
    return sorted(kept, key=lambda c: c["seq"])


def export(conn: Connection, path: str | Path, *, latest_only: bool = False) -> list[dict]:
    """Append the stored checkpoints newer than the last one already in ``path`` (JSON Lines; all of
    them, or only the newest with ``latest_only``). Lines already in the file are never rewritten.

    Returns
    -------
    list of dict
        The checkpoints appended.
    """
    path = Path(path)
    last = read_kept(path)[-1]["seq"] if path.exists() and path.read_text(encoding="utf-8").strip() else 0
    if latest_only:
        newest = latest(conn)
        found = [newest] if newest is not None and newest["seq"] > last else []
    else:
        found = list(stored(conn, after=last))
    if found:
        with path.open("a", encoding="utf-8") as handle:
            for checkpoint in found:
                handle.write(json.dumps({k: checkpoint[k] for k in FIELDS}, ensure_ascii=False) + "\n")
    return found
