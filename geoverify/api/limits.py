"""Per-token rate limits on uploads, with the ``limits`` library (the engine of Flask-Limiter).

The limit (``UPLOAD_RATE_LIMIT``, e.g. ``"120/minute"``) counts every upload request of one token
(by its name), over the grid, track, event and site endpoints together, whatever its outcome. It is
checked after authentication, so unknown tokens never create counters. Counters live in
``RATELIMIT_STORAGE_URI`` (``memory://`` by default: one process; a shared store such as Redis is
needed to limit across several processes) with the ``RATELIMIT_STRATEGY`` (``moving-window``,
``fixed-window`` or ``sliding-window-counter``). ``RATELIMIT_ENABLED = false`` turns the limit off.
Only the upload views are checked: other requests pay nothing (Flask-Limiter's extension would
look at every request).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, g, make_response
from limits import parse, storage, strategies
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
        ``UPLOAD_RATE_LIMIT`` is not a rate such as ``"120/minute"`` or ``"10/second;500/hour"``, or
        ``RATELIMIT_STRATEGY`` / ``RATELIMIT_STORAGE_URI`` is unknown.
    """
    text = str(app.config["UPLOAD_RATE_LIMIT"])
    try:
        items = [parse(part) for part in text.split(";") if part.strip()]
    except (ValueError, ConfigurationError) as exc:
        raise ValueError(
            f"UPLOAD_RATE_LIMIT {text!r} is not a rate like '120/minute' (several separated by ';'): {exc}"
        ) from None
    strategy = str(app.config["RATELIMIT_STRATEGY"])
    if strategy not in strategies.STRATEGIES:
        raise ValueError(
            f"RATELIMIT_STRATEGY {strategy!r} is unknown; use one of {', '.join(sorted(strategies.STRATEGIES))}"
        )
    try:
        counters = storage.storage_from_string(str(app.config["RATELIMIT_STORAGE_URI"]))
    except ConfigurationError as exc:
        raise ValueError(f"RATELIMIT_STORAGE_URI {app.config['RATELIMIT_STORAGE_URI']!r}: {exc}") from None
    enabled = str(app.config.get("RATELIMIT_ENABLED", True)).lower() not in ("false", "0", "no", "off")
    limiter = strategies.STRATEGIES[strategy](counters) if enabled else None
    app.extensions["geoverify.upload_limits"] = (limiter, items)


def limit_uploads(view: Callable) -> Callable:
    """Refuse the request with 429 (and ``Retry-After``) when the caller's token is over its upload rate.

    Put it below :func:`api.auth.requires`: it keys on ``g.principal``.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        limiter, items = current_app.extensions["geoverify.upload_limits"]
        if limiter is not None and items:
            key = _token_name()
            over = [item for item in items if not limiter.hit(item, SCOPE, key)]
            if over:
                reset_at = max(limiter.get_window_stats(item, SCOPE, key).reset_time for item in over)
                retry = max(1, math.ceil(reset_at - time.time()))
                return problem(
                    429,
                    f"Token {key!r} is over its upload rate ({over[0]}); wait {retry} s before "
                    "the next upload, or send fewer, larger uploads.",
                    headers={"Retry-After": str(retry)},
                )
            stats = limiter.get_window_stats(items[0], SCOPE, key)
            response = make_response(view(*args, **kwargs))
            response.headers["X-RateLimit-Limit"] = str(items[0].amount)
            response.headers["X-RateLimit-Remaining"] = str(stats.remaining)
            return response
        return view(*args, **kwargs)

    return wrapper
