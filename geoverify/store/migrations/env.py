"""Alembic environment: migrations run on the connection handed in by ``geoverify.store.db.upgrade``."""

from alembic import context

from geoverify.store.schema import in_metadata, metadata


def run_migrations() -> None:
    """Apply the migrations on the connection in the Alembic config's attributes."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `geoverify db upgrade` (geoverify.store.db.upgrade)")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, include_object=in_metadata)
    with context.begin_transaction():
        context.run_migrations()


try:
    context.config  # noqa: B018 -- probes whether Alembic is running a migration
except AttributeError:  # imported outside a migration run (e.g. by pytest's doctest collection)
    pass
else:
    run_migrations()
