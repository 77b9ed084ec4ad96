"""Response headers that every answer carries, and CORS (closed unless origins are listed).

Authentication is by bearer token only: the service never sets or reads a cookie, so a browser on
another site cannot ride on a user's session (no CSRF). Cross-origin reads are refused by default
(no ``Access-Control-Allow-Origin``); ``CORS_ORIGINS`` lists the exact origins a browser front end
may call the API from.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

# On every response. Pages of the map set their own Content-Security-Policy (geoverify/api/map.py); every
# other response gets one that lets nothing load or frame it.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
LOCKED_DOWN_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CORS_METHODS = "GET, POST"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_EXPOSED_HEADERS = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, Location"
CORS_MAX_AGE_S = 600


def allowed_origins(value) -> frozenset[str]:
    """``CORS_ORIGINS`` as a set: a list, or a string of origins separated by commas or spaces.

    Raises
    ------
    ValueError
        An entry is not an origin (``scheme://host[:port]``, no path), or is ``*``.
    """
    if not value:
        return frozenset()
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    origins = set()
    for item in items:
        origin = str(item).strip().rstrip("/")
        scheme, sep, rest = origin.partition("://")
        if origin == "*" or not sep or scheme not in ("http", "https") or not rest or "/" in rest:
            raise ValueError(
                f"CORS_ORIGINS entry {item!r} is not an origin like https://score.example.gov.cn "
                "(scheme and host, no path; '*' is not allowed)"
            )
        origins.add(origin)
    return frozenset(origins)


def _secure(response: Response) -> Response:
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", LOCKED_DOWN_CSP)
    if request.endpoint != "static":  # API answers, errors and pages hold a token's data: never cached
        headers["Cache-Control"] = "no-store"
    _cors(response)
    return response


def _cors(response: Response) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    response.vary.add("Origin")
    if origin not in current_app.extensions["geoverify.cors_origins"]:
        return
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        headers["Access-Control-Allow-Methods"] = CORS_METHODS
        headers["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
        headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)


def init_app(app: Flask) -> None:
    """Add the security headers (and CORS grants for ``CORS_ORIGINS``) to every response."""
    app.extensions["geoverify.cors_origins"] = allowed_origins(app.config.get("CORS_ORIGINS"))
    app.after_request(_secure)
