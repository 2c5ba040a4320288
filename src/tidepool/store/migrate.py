"""Bring a database to the newest schema: ``alembic upgrade head``, from code.

``tidepool serve`` and the tests call ``upgrade(url)``; there is no alembic.ini to ship or to
find, because the Alembic configuration is built here with the migrations' location inside
this package. Running it on an up-to-date database does nothing, so it is safe at every start.

It is synchronous and blocking (Alembic is): call it through ``asyncio.to_thread`` from async
code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event

from tidepool.store.database import sqlite_pragmas
from tidepool.store.urls import backend_name, sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration for Tidepool's migrations, with no file behind it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` (``sqlite:///...`` or ``postgresql://...``) to ``revision``.

    A SQLite file's folder is created if missing, and the file is put in WAL mode before the
    first table exists.
    """
    if backend_name(url) == "sqlite":
        _make_sqlite_folder(url)
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; None before the first upgrade.

    A SQLite file that does not exist is not created just to answer.
    """
    if backend_name(url) == "sqlite" and not _sqlite_file_exists(url):
        return None
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_connection)


def _sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for in-memory and ``file:`` URI databases."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _sqlite_file_exists(url: str) -> bool:
    path = _sqlite_path(url)
    return path is None or path.exists()


def _make_sqlite_folder(url: str) -> None:
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
