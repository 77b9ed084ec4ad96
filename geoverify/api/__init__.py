"""The geoverify HTTP service: a Flask app over the geoverify store (no verification logic here)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from geoverify.settings import (
    DEFAULT_CORS_ORIGINS,
    DEFAULT_RATELIMIT_STORAGE_URI,
    DEFAULT_RATELIMIT_STRATEGY,
    DEFAULT_UPLOAD_RATE_LIMIT,
    configured_database_url,
    configured_rules_path,
    configured_tz,
)

DEFAULT_MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # bytes
DEFAULT_MAX_FIXES_PER_UPLOAD = 500_000


def create_app(test_config: Mapping | None = None) -> Flask:
    """Build the service.

    Configuration: defaults, then ``GEOVERIFY_*`` environment variables (``GEOVERIFY_DATABASE_URL``,
    ``GEOVERIFY_RULES``, ``GEOVERIFY_TZ``, and any other key as ``GEOVERIFY_<KEY>``), then
    ``test_config``. Keys: ``DATABASE_URL``, ``RULES``, ``TZ``, ``NOW`` (a fixed verification time,
    for replaying old data), ``MAX_CONTENT_LENGTH`` (bytes), ``MAX_FIXES_PER_UPLOAD``, ``TILE_URL``
    and ``TILE_ATTRIBUTION`` (an optional base map for the map page; none by default),
    ``UPLOAD_RATE_LIMIT`` (uploads per token, e.g. ``"120/minute"``), ``RATELIMIT_ENABLED``,
    ``RATELIMIT_STORAGE_URI``, ``RATELIMIT_STRATEGY`` (see :mod:`api.limits`) and ``CORS_ORIGINS`` (origins a
    browser may call the API from; none by default).
    """
    app = Flask(__name__)
    app.config.from_mapping(
        DATABASE_URL=configured_database_url(),
        RULES=configured_rules_path(),
        TZ=configured_tz(),
        NOW=None,
        MAX_CONTENT_LENGTH=DEFAULT_MAX_CONTENT_LENGTH,
        MAX_FIXES_PER_UPLOAD=DEFAULT_MAX_FIXES_PER_UPLOAD,
        JSON_SORT_KEYS=False,
        TILE_URL="",
        TILE_ATTRIBUTION="",
        UPLOAD_RATE_LIMIT=DEFAULT_UPLOAD_RATE_LIMIT,
        RATELIMIT_STORAGE_URI=DEFAULT_RATELIMIT_STORAGE_URI,
        RATELIMIT_STRATEGY=DEFAULT_RATELIMIT_STRATEGY,
        CORS_ORIGINS=list(DEFAULT_CORS_ORIGINS),
    )
    app.config.from_prefixed_env("GEOVERIFY")
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # app.json is Flask's DefaultJSONProvider
    app.json.sort_keys = False  # type: ignore[attr-defined]  # app.json is Flask's DefaultJSONProvider

    from . import (
        assessment,
        audit,
        auth,
        compress,
        credits,
        events,
        flags,
        grids,
        index,
        limits,
        map,
        openapi,
        params,
        patrols,
        problems,
        security,
        sites,
        tracks,
    )

    problems.init_app(app)
    security.init_app(app)
    compress.init_app(app)
    params.init_app(app)
    limits.init_app(app)
    auth.init_app(app)
    for module in (grids, tracks, events, sites, patrols, flags, credits, audit, map, assessment, openapi, index):
        app.register_blueprint(module.bp)
    return app
