"""API tokens: issued once, stored as SHA-256, compared in constant time, revocable.

Roles: ``uploader`` (scopes are member ids), ``supervisor`` (scopes are grid ids), ``auditor``,
``scorer``, ``admin`` (the last three take no scope).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from . import audit
from .db import utc_now_text
from ..errors import TokenError
from .schema import tokens

ROLES = ("uploader", "supervisor", "auditor", "scorer", "admin")
SCOPED_ROLES = {"uploader": "member", "supervisor": "grid"}
TOKEN_PREFIX = "gv_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, role and scopes (member or grid ids; empty for unscoped roles)."""

    name: str
    role: str
    scopes: frozenset[str] = frozenset()

    def sees_member(self, member_id: str | None) -> bool:
        """Whether an uploader-scoped object of ``member_id`` is in scope (always for other roles)."""
        return self.role != "uploader" or member_id in self.scopes

    def sees_grid(self, grid_id: str | None) -> bool:
        """Whether an object of ``grid_id`` is in scope (supervisors only see their grids)."""
        return self.role != "supervisor" or grid_id in self.scopes


def token_digest(token: str) -> str:
    """SHA-256 (hex) of a token; only this is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(conn: Connection, role: str, scopes: list[str] | tuple[str, ...] = (), name: str | None = None,
           actor: str = "cli") -> tuple[str, str]:
    """Issue a token; returns ``(name, token)``. The token is shown once and never stored.

    Raises
    ------
    TokenError
        Unknown role, a scoped role without scopes (or an unscoped one with), or a name in use.
    """
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    scopes = sorted({s.strip() for s in scopes if s and s.strip()})
    if role in SCOPED_ROLES and not scopes:
        raise TokenError(f"role {role} needs at least one --scope ({SCOPED_ROLES[role]} id)")
    if role not in SCOPED_ROLES and scopes:
        raise TokenError(f"role {role} takes no scope; drop --scope")
    name = name or f"{role}-{secrets.token_hex(4)}"
    if conn.execute(select(tokens.c.name).where(tokens.c.name == name)).first():
        raise TokenError(f"a token named {name!r} exists; choose another --name or revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(insert(tokens).values(name=name, role=role, scopes=json.dumps(scopes),
                                       token_sha256=token_digest(token), created_at=utc_now_text()))
    audit.append(conn, actor, "token.created", "token", name, {"role": role, "scopes": scopes})
    return name, token


def revoke(conn: Connection, name: str, actor: str = "cli") -> None:
    """Revoke the token called ``name`` (raises :class:`TokenError` when there is none)."""
    row = conn.execute(select(tokens.c.revoked_at).where(tokens.c.name == name)).first()
    if row is None:
        raise TokenError(f"no token named {name!r}; `geoverify token list` shows the names")
    if row.revoked_at is None:
        conn.execute(update(tokens).where(tokens.c.name == name).values(revoked_at=utc_now_text()))
        audit.append(conn, actor, "token.revoked", "token", name, {})


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a live token, or None for an unknown or revoked one."""
    digest = token_digest(token)
    row = conn.execute(select(tokens).where(tokens.c.token_sha256 == digest)).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None:
        return None
    return Principal(name=row.name, role=row.role, scopes=frozenset(json.loads(row.scopes)))


def listing(conn: Connection) -> list[dict]:
    """Every token's name, role, scopes and dates (never the token)."""
    rows = conn.execute(select(tokens.c.name, tokens.c.role, tokens.c.scopes, tokens.c.created_at,
                               tokens.c.revoked_at).order_by(tokens.c.name)).all()
    return [{**dict(r._mapping), "scopes": json.loads(r.scopes)} for r in rows]
