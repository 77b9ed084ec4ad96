"""Settings read from the environment, in one place (see the README's "Configuration")."""

from __future__ import annotations

import os

from .errors import InputError
from .io.times import DEFAULT_TZ

ENV_TZ = "GEOVERIFY_TZ"
ENV_RULES = "GEOVERIFY_RULES"
ENV_DATABASE_URL = "GEOVERIFY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///geoverify.db"
ENV_SETTLE_AT = "GEOVERIFY_SETTLE_AT"
ENV_MAX_FIXES_PER_UPLOAD = "GEOVERIFY_MAX_FIXES_PER_UPLOAD"
DEFAULT_SETTLE_AT = "02:00"   # a day's credit settles at this local time on the next day


def configured_tz() -> str:
    """The zone for naive times and output offsets: ``$GEOVERIFY_TZ`` or Asia/Shanghai."""
    return os.environ.get(ENV_TZ) or DEFAULT_TZ


def configured_rules_path() -> str | None:
    """A rules file named by ``$GEOVERIFY_RULES``, if any."""
    return os.environ.get(ENV_RULES) or None


def configured_settle_after_s() -> float:
    """Seconds after the next local midnight at which a day's credit settles: ``$GEOVERIFY_SETTLE_AT``
    (``HH:MM``, 00:00–23:59) or 02:00.

    Raises
    ------
    InputError
        When the variable is not ``HH:MM``.
    """
    text = (os.environ.get(ENV_SETTLE_AT) or DEFAULT_SETTLE_AT).strip()
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2):
        raise InputError(f"{text!r} is not a local time HH:MM; set it like 02:00", source=ENV_SETTLE_AT)
    return int(hours) * 3600.0 + int(minutes) * 60.0


def configured_max_fixes_per_upload() -> int | None:
    """``$GEOVERIFY_MAX_FIXES_PER_UPLOAD`` (fixes one track upload may hold), or None when unset.

    Raises
    ------
    InputError
        When it is not a whole number of at least 1.
    """
    text = (os.environ.get(ENV_MAX_FIXES_PER_UPLOAD) or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{text!r} is not a whole number >= 1", source=ENV_MAX_FIXES_PER_UPLOAD)
    return int(text)


def configured_database_url() -> str:
    """``$GEOVERIFY_DATABASE_URL`` or ``sqlite:///geoverify.db`` (in the working directory)."""
    return os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL

# Defaults of the HTTP service's protective limits (app config keys; ``GEOVERIFY_<KEY>`` in the
# environment). See the README's "Security".
DEFAULT_UPLOAD_RATE_LIMIT = "120/minute"  # uploads per token, all upload endpoints together
DEFAULT_RATELIMIT_STORAGE_URI = "memory://"  # per process; e.g. redis://… to share between processes
DEFAULT_RATELIMIT_STRATEGY = "moving-window"
DEFAULT_CORS_ORIGINS: tuple[str, ...] = ()  # no cross-origin access unless origins are listed
MAX_ID_CHARS = 512  # ids and other text values in paths and query strings
MAX_IDEMPOTENCY_KEY_CHARS = 255
