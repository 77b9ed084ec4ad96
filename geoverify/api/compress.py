"""gzip for answers a browser or client asks for compressed (``Accept-Encoding: gzip``).

JSON, GeoJSON, problem answers, HTML, CSS, JavaScript and SVG of at least :data:`MIN_BYTES` are
compressed; every answer of such a type says ``Vary: Accept-Encoding`` so that a cache never hands
a compressed body to a client that did not ask for one. Static files are compressed once per
version (their ETag) and kept in memory; API answers are compressed as they go. Partial (206),
empty and already encoded answers are left alone.
"""

from __future__ import annotations

import gzip
import threading

from flask import Flask, Response, request

MIN_BYTES = 1024
LEVEL = 6
COMPRESSIBLE = frozenset(
    {
        "application/json",
        "application/geo+json",
        "application/problem+json",
        "application/javascript",
        "text/javascript",
        "text/html",
        "text/css",
        "text/plain",
        "text/csv",
        "image/svg+xml",
    }
)
STATIC_CACHE_ENTRIES = 64  # distinct static files kept compressed (the map page loads about a dozen)

_cache: dict[tuple[str, str], bytes] = {}
_cache_lock = threading.Lock()


def wants_gzip() -> bool:
    """Whether the request accepts gzip (``Accept-Encoding: gzip`` or ``*`` with a quality above 0)."""
    return request.accept_encodings["gzip"] > 0


def _static_key(response: Response) -> tuple[str, str] | None:
    etag, _ = response.get_etag()
    return (request.path, etag) if request.endpoint == "static" and etag else None


def _compressed(response: Response) -> bytes:
    key = _static_key(response)
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
    body = gzip.compress(response.get_data(), compresslevel=LEVEL, mtime=0)
    if key is not None:
        with _cache_lock:
            if len(_cache) >= STATIC_CACHE_ENTRIES:
                _cache.pop(next(iter(_cache)))
            _cache[key] = body
    return body


def compress_response(response: Response) -> Response:
    """``response`` gzip-compressed when the client accepts it and it is worth it (see the module doc).

    Parameters
    ----------
    response : flask.Response

    Returns
    -------
    flask.Response
        The same response, its body compressed and ``Content-Encoding``, ``Content-Length``,
        ``Vary`` set and its ``ETag`` made weak, or unchanged.
    """
    if response.mimetype not in COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")
    if (
        response.status_code != 200
        or "Content-Encoding" in response.headers
        or "Content-Range" in response.headers
        or request.method == "HEAD"
        or not wants_gzip()
    ):
        return response
    if response.content_length is not None and response.content_length < MIN_BYTES:
        return response
    if response.is_streamed and not response.direct_passthrough:
        return response  # a generator: left as it streams
    source = response.response
    response.direct_passthrough = False
    data = response.get_data()
    if hasattr(source, "close"):  # a file of send_file: read whole now, closed now
        source.close()
    if len(data) < MIN_BYTES:
        return response
    response.set_data(_compressed(response))
    response.headers["Content-Encoding"] = "gzip"
    etag, _ = response.get_etag()
    if etag:  # weak, as the body differs byte for byte; If-None-Match still matches it (weak comparison)
        response.set_etag(etag, weak=True)
    return response


def init_app(app: Flask) -> None:
    """Compress answers of ``app`` for clients that accept gzip."""
    app.after_request(compress_response)
