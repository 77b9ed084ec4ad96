"""Bearer-token authentication and role checks; the store on the app."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, abort, current_app, g, request

from geoverify.store import Store, tokens
from geoverify.store.tokens import Principal
from geoverify.store.upload_files import remove_stale_upload_folders

from .problems import problem


def get_store() -> Store:
    """The app's store (opened once by :func:`init_app`)."""
    return current_app.extensions["geoverify.store"]


def _audit_key(app: Flask) -> str | None:
    """The app's ``AUDIT_KEY`` (``GEOVERIFY_AUDIT_KEY``: the key file that signs audit checkpoints;
    ``""`` for none); None leaves it to the environment."""
    value = app.config.get("AUDIT_KEY")
    return None if value is None else str(value)


def init_app(app: Flask) -> None:
    """Open (create or upgrade) the store named by the app's config."""
    store = Store.open(
        app.config["DATABASE_URL"],
        tz=app.config["TZ"],
        rules_path=app.config["RULES"],
        now=app.config.get("NOW"),
        migrate=app.config.get("MIGRATE", True),
        audit_key=_audit_key(app),
    )
    store.max_fixes_per_upload = int(app.config["MAX_FIXES_PER_UPLOAD"])
    remove_stale_upload_folders()
    app.extensions["geoverify.store"] = store


def requires(*roles: str) -> Callable:
    """Let a view run only for a live token of one of ``roles`` (admin always allowed).

    401 without a valid token (the detail says when it expired or was replaced by rotation), 403
    for another role; the caller is ``g.principal``.
    """
    allowed = set(roles) | {"admin"}

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                abort(401)
            try:
                with get_store().read() as conn:
                    principal = tokens.authenticate(conn, token.strip())
            except tokens.TokenRefused as refused:
                return problem(
                    401, refused.detail, headers={"WWW-Authenticate": 'Bearer realm="geoverify", error="invalid_token"'}
                )
            if principal is None:
                return problem(
                    401,
                    "The token is unknown or revoked; ask an admin for a new one (`geoverify token create`).",
                    headers={"WWW-Authenticate": 'Bearer realm="geoverify"'},
                )
            if principal.role not in allowed:
                return problem(
                    403, f"Role {principal.role} may not do this; it needs one of: {', '.join(sorted(allowed))}."
                )
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.__roles__ = sorted(allowed)  # type: ignore[attr-defined]  # read by openapi.py for the docs
        return wrapper

    return decorate


def grid_scope(principal: Principal) -> frozenset | None:
    """Grid ids a supervisor may see; None for roles that see every grid."""
    return principal.scopes if principal.role == "supervisor" else None
