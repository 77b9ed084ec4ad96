"""Settings read from the environment, in one place (see the README's "Configuration")."""

from __future__ import annotations

import os

from .io.times import DEFAULT_TZ

ENV_TZ = "GEOVERIFY_TZ"
ENV_RULES = "GEOVERIFY_RULES"
ENV_DATABASE_URL = "GEOVERIFY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///geoverify.db"


def configured_tz() -> str:
    """The zone for naive times and output offsets: ``$GEOVERIFY_TZ`` or Asia/Shanghai."""
    return os.environ.get(ENV_TZ) or DEFAULT_TZ


def configured_rules_path() -> str | None:
    """A rules file named by ``$GEOVERIFY_RULES``, if any."""
    return os.environ.get(ENV_RULES) or None


def configured_database_url() -> str:
    """``$GEOVERIFY_DATABASE_URL`` or ``sqlite:///geoverify.db`` (in the working directory)."""
    return os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL
