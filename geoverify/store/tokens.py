"""API tokens: issued once, stored as SHA-256, compared in constant time, revocable, optionally
expiring, and rotatable.

Roles: ``uploader`` (scopes are member ids), ``supervisor`` (scopes are grid ids), ``auditor``,
``scorer``, ``admin`` (the last three take no scope).

Expiry (``expires_at``, UTC) and rotation are judged by the wall clock, never by a store's fixed
verification time. :func:`rotate` gives a token a new secret under the same name, role and scopes;
the replaced secret's hash is kept in ``previous_sha256`` and works until ``previous_until`` (the
grace period; by default none). Revoking the name ends both secrets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, or_, select, update

from geoverify.errors import TokenError, TokenRefused
from geoverify.store import audit
from geoverify.store.clock import utc_now_text
from geoverify.store.schema import tokens

ROLES = ("uploader", "supervisor", "auditor", "scorer", "admin")
SCOPED_ROLES = {"uploader": "member", "supervisor": "grid"}
TOKEN_PREFIX = "gv_"
MAX_GRACE = dt.timedelta(days=7)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXPIRES_FORMS = "a duration like 90d, 12h or 2w, or an ISO date (2027-03-31) or date-time (2027-03-31T18:00+08:00)"


def utc_now() -> dt.datetime:
    """The wall clock in UTC."""
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_duration(text: str, units: str = "hdw", *, what: str = "--expires") -> dt.timedelta:
    """``90d``, ``12h``, ``2w`` (and ``30m``, ``45s`` where ``units`` allows) as a timedelta.

    Raises
    ------
    TokenError
        Another form, or a count below 1 (``0`` alone is a zero duration).
    """
    text = text.strip()
    if text == "0":
        return dt.timedelta(0)
    match = re.fullmatch(r"(\d{1,6})([a-z])", text)
    if match is None or match.group(2) not in units:
        forms = ", ".join(f"N{u}" for u in units)
        raise TokenError(f"{what} {text!r} is not a duration ({forms}; e.g. 90d)")
    if int(match.group(1)) < 1:
        raise TokenError(f"{what} {text!r}: a duration is at least 1{match.group(2)}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_expiry(text: str, tz: str, now: dt.datetime | None = None) -> dt.datetime:
    """When a token made now with ``--expires TEXT`` stops working (UTC).

    ``TEXT`` is a duration from now (``90d``, ``12h``, ``2w``), an ISO date (the token works through
    that local day in ``tz``: it stops at the next local midnight) or an ISO date-time (a time
    without an offset is local to ``tz``).

    Raises
    ------
    TokenError
        Another form, or a moment not in the future.
    """
    now = now or utc_now()
    text = text.strip()
    if re.fullmatch(r"\d+[a-z]", text) or text.isdigit():
        try:
            duration = parse_duration(text, "hdw")
        except TokenError as exc:
            if "at least" in str(exc):
                raise
            raise TokenError(f"--expires {text!r} is not {EXPIRES_FORMS}") from None
        if not duration:
            raise TokenError(f"--expires {text!r}: a duration is at least 1h")
        return now + duration
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = dt.datetime.combine(dt.date.fromisoformat(text) + dt.timedelta(days=1), dt.time(), ZoneInfo(tz))
        else:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise TokenError(f"--expires {text!r} is not {EXPIRES_FORMS}") from None
    if moment <= now:
        raise TokenError(
            f"--expires {text!r} is in the past ({_stamp(moment)}); give a later date or a duration like 90d"
        )
    return moment.astimezone(dt.UTC)


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


def create(
    conn: Connection,
    role: str,
    scopes: list[str] | tuple[str, ...] = (),
    name: str | None = None,
    actor: str = "cli",
    *,
    expires_at: dt.datetime | None = None,
) -> tuple[str, str]:
    """Issue a token; returns ``(name, token)``. The token is shown once and never stored.

    ``expires_at`` (aware datetime, see :func:`parse_expiry`): when it stops working; never by default.

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
    expires = None if expires_at is None else _stamp(expires_at)
    conn.execute(
        insert(tokens).values(
            name=name,
            role=role,
            scopes=json.dumps(scopes),
            token_sha256=token_digest(token),
            created_at=utc_now_text(),
            expires_at=expires,
        )
    )
    detail = {"role": role, "scopes": scopes, **({"expires_at": expires} if expires else {})}
    audit.append(conn, actor, "token.created", "token", name, detail)
    return name, token


def rotate(
    conn: Connection,
    name: str,
    *,
    grace: dt.timedelta = dt.timedelta(0),
    expires_at: dt.datetime | None = None,
    actor: str = "cli",
) -> tuple[str, str | None, str | None]:
    """Give token ``name`` a new secret (same role and scopes); the old one works for ``grace`` more.

    The new secret expires at ``expires_at``, else after the lifetime the old one had (its
    ``expires_at`` minus its ``created_at``), else never. Rotating again ends an earlier grace at once.

    Returns
    -------
    tuple
        ``(token, expires_at, previous_until)``: the new secret (shown once), and as stored text
        when it expires and until when the old secret works.

    Raises
    ------
    TokenError
        No such token, a revoked one, or a grace period over :data:`MAX_GRACE`.
    """
    if grace > MAX_GRACE or grace < dt.timedelta(0):
        raise TokenError(f"--grace is at most 7d (a short overlap to deploy the new secret), not {grace}")
    row = conn.execute(select(tokens).where(tokens.c.name == name)).first()
    if row is None:
        raise TokenError(f"no token named {name!r}; `geoverify token list` shows the names")
    if row.revoked_at is not None:
        raise TokenError(f"token {name!r} is revoked; issue a new one with `geoverify token create`")
    now = utc_now()
    if expires_at is None and row.expires_at is not None:
        lifetime = dt.datetime.fromisoformat(row.expires_at) - dt.datetime.fromisoformat(row.created_at)
        expires_at = now + max(lifetime, dt.timedelta(hours=1))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = None if expires_at is None else _stamp(expires_at)
    until = _stamp(now + grace)
    conn.execute(
        update(tokens)
        .where(tokens.c.name == name)
        .values(
            token_sha256=token_digest(token),
            created_at=_stamp(now),
            expires_at=expires,
            previous_sha256=row.token_sha256,
            previous_until=until,
        )
    )
    audit.append(
        conn,
        actor,
        "token.rotated",
        "token",
        name,
        {"grace_s": int(grace.total_seconds()), "expires_at": expires, "previous_until": until},
    )
    return token, expires, until


def revoke(conn: Connection, name: str, actor: str = "cli") -> None:
    """Revoke the token called ``name`` (raises :class:`TokenError` when there is none)."""
    row = conn.execute(select(tokens.c.revoked_at).where(tokens.c.name == name)).first()
    if row is None:
        raise TokenError(f"no token named {name!r}; `geoverify token list` shows the names")
    if row.revoked_at is None:
        conn.execute(update(tokens).where(tokens.c.name == name).values(revoked_at=utc_now_text()))
        audit.append(conn, actor, "token.revoked", "token", name, {})


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a live token, or None for an unknown or revoked one.

    Raises
    ------
    TokenRefused
        The token expired, or it is a secret replaced by :func:`rotate` whose grace period is over.
    """
    digest = token_digest(token)
    row = conn.execute(
        select(tokens).where(or_(tokens.c.token_sha256 == digest, tokens.c.previous_sha256 == digest))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    now = utc_now()
    if hmac.compare_digest(row.token_sha256, digest):
        if row.expires_at is not None and now >= dt.datetime.fromisoformat(row.expires_at):
            raise TokenRefused(
                row.name,
                f"The token {row.name!r} expired at {row.expires_at}. Ask an admin for a "
                f"new secret: `geoverify token rotate {row.name}` keeps its name, role and "
                "scope (add --expires to choose the new lifetime).",
            )
    elif not (row.previous_sha256 and hmac.compare_digest(row.previous_sha256, digest)):
        return None
    elif now >= dt.datetime.fromisoformat(row.previous_until):
        raise TokenRefused(
            row.name,
            f"This secret of token {row.name!r} was replaced when the token was rotated; "
            f"it stopped working at {row.previous_until}. Use the new secret (ask the admin "
            "who ran `geoverify token rotate` for it).",
        )
    return Principal(name=row.name, role=row.role, scopes=frozenset(json.loads(row.scopes)))


def listing(conn: Connection) -> list[dict]:
    """Every token's name, role, scopes and dates (never the token): ``created_at``, ``revoked_at``,
    ``expires_at`` and ``previous_until`` (the end of a rotation's grace period), UTC text or None."""
    rows = conn.execute(
        select(
            tokens.c.name,
            tokens.c.role,
            tokens.c.scopes,
            tokens.c.created_at,
            tokens.c.revoked_at,
            tokens.c.expires_at,
            tokens.c.previous_until,
        ).order_by(tokens.c.name)
    ).all()
    return [{**dict(r._mapping), "scopes": json.loads(r.scopes)} for r in rows]


def state(row: dict, now: dt.datetime | None = None) -> str:
    """A listing row's state for people: ``live``, ``live, expires …``, ``expired …`` or ``revoked …``
    (times in UTC to the second), and a rotation's grace period when it still runs."""
    now = now or utc_now()

    def short(text: str) -> str:
        return dt.datetime.fromisoformat(text).isoformat(timespec="seconds")

    if row["revoked_at"]:
        return f"revoked {row['revoked_at']}"
    if row["expires_at"] and now >= dt.datetime.fromisoformat(row["expires_at"]):
        return f"expired {short(row['expires_at'])}"
    text = f"live, expires {short(row['expires_at'])}" if row["expires_at"] else "live"
    if row["previous_until"] and now < dt.datetime.fromisoformat(row["previous_until"]):
        text += f"; previous secret until {short(row['previous_until'])}"
    return text
