"""What every store command shares: the ``--database-url`` option and opening the store for a command."""

from __future__ import annotations

import click

from geoverify.settings import configured_max_fixes_per_upload, configured_rules_path, configured_tz


def database_option(func):
    """The ``--database-url`` option (default ``$GEOVERIFY_DATABASE_URL`` or ``sqlite:///geoverify.db``)."""
    from geoverify.store import configured_database_url

    return click.option(
        "--database-url",
        "database_url",
        default=configured_database_url,
        show_default="$GEOVERIFY_DATABASE_URL or sqlite:///geoverify.db",
        help="SQLAlchemy URL of the store.",
    )(func)


def shown_url(url: str) -> str:
    """A database URL fit to print (password hidden)."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_store(database_url: str, now: str | None = None, audit_key: str | None = None):
    """The store at ``database_url`` with the configured zone, rules and upload limit, disposed when the
    current command ends (however it ends)."""
    from geoverify.store import Store

    store = Store.open(
        database_url, tz=configured_tz(), rules_path=configured_rules_path(), now=now, audit_key=audit_key
    )
    limit = configured_max_fixes_per_upload()
    if limit is not None:
        store.max_fixes_per_upload = limit
    context = click.get_current_context(silent=True)
    if context is not None:  # closed when the command ends, however it ends (its pool's connections too)
        context.call_on_close(store.dispose)
    return store
