"""Alembic's entry point for Tidepool's schema.

``tidepool.store.migrate.upgrade`` runs it with a connection it opened itself, handed over in
``config.attributes["connection"]``; there is no alembic.ini, so nothing here reads a file or
configures logging. ``alembic`` on the command line still works for authoring a new revision
with ``-x url=sqlite:///scratch.db`` (it then opens its own connection).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from tidepool.store.tables import metadata
from tidepool.store.urls import sync_url


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("Give the database: alembic -x url=sqlite:///PATH ...")
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as fresh:
            _migrate(fresh)
    finally:
        engine.dispose()


_run()
