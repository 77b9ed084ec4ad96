"""Per-token rate limits on uploads, with Flask-Limiter's storage and strategy.

The limit (``UPLOAD_RATE_LIMIT``, e.g. ``"120/minute"``) counts every upload request of one token
(by its name), over the grid, track, event and site endpoints together, whatever its outcome. It is
checked after authentication, so unknown tokens never create counters. Counters live in
``RATELIMIT_STORAGE_URI`` (``memory://`` by default: one process; a shared store such as Redis is
needed to limit across several processes). ``RATELIMIT_ENABLED = false`` turns the limit off.
"""

from __future__ import annotations

import math
import time
from functools import wraps
from typing import Callable

from flask import Flask, current_app, g, make_response
from flask_limiter import Limiter
from limits import parse
from limits.errors import ConfigurationError

from .problems import problem

SCOPE = "uploads"


def _token_name() -> str:
    return g.principal.name


def init_app(app: Flask) -> None:
    """Set up the app's own limiter (its counters are not shared with other apps in the process).

    Raises
    ------
    ValueError
        ``UPLOAD_RATE_LIMIT`` is not a rate such as ``"120/minute"`` or ``"10/second;500/hour"``.
    """
    text = str(app.config["UPLOAD_RATE_LIMIT"])
    try:
        items = [parse(part) for part in text.split(";") if part.strip()]
    except (ValueError, ConfigurationError) as exc:
        raise ValueError(f"UPLOAD_RATE_LIMIT {text!r} is not a rate like '120/minute' "
                         f"(several separated by ';'): {exc}") from None
    limiter = Limiter(key_func=_token_name, app=app)
    app.extensions["geoverify.upload_limits"] = (limiter, items)


def limit_uploads(view: Callable) -> Callable:
    """Refuse the request with 429 (and ``Retry-After``) when the caller's token is over its upload rate.

    Put it below :func:`api.auth.requires`: it keys on ``g.principal``.
    """
    @wraps(view)
    def wrapper(*args, **kwargs):
        limiter, items = current_app.extensions["geoverify.upload_limits"]
        if limiter.enabled and items:
            key = _token_name()
            over = [item for item in items if not limiter.limiter.hit(item, SCOPE, key)]
            if over:
                reset_at = max(limiter.limiter.get_window_stats(item, SCOPE, key).reset_time for item in over)
                retry = max(1, math.ceil(reset_at - time.time()))
                return problem(429, f"Token {key!r} is over its upload rate ({over[0]}); wait {retry} s before "
                                    "the next upload, or send fewer, larger uploads.",
                               headers={"Retry-After": str(retry)})
            stats = limiter.limiter.get_window_stats(items[0], SCOPE, key)
            response = make_response(view(*args, **kwargs))
            response.headers["X-RateLimit-Limit"] = str(items[0].amount)
            response.headers["X-RateLimit-Remaining"] = str(stats.remaining)
            return response
        return view(*args, **kwargs)

    return wrapper
