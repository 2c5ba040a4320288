"""The migrations build the schema ``tables.py`` describes, once, on SQLite; and URLs map to
the drivers Tidepool ships.

``tidepool serve`` runs ``migrate.upgrade`` at every start, so running it on an up-to-date
database must change nothing and lose nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tidepool.domain.templates import Size
from tidepool.errors import InvalidInputError
from tidepool.store import migrate
from tidepool.store.rows import from_spec
from tidepool.store.sql import async_url
from tidepool.store.tables import metadata
from tidepool.store.urls import sync_url


def schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    return [(str(kind), str(name), str(sql)) for kind, name, sql in rows]


#: A workspace row as the first schema (0001) holds it.
OLD_ROW = (
    "INSERT INTO workspaces (id, name, owner, image, desired, status, error,"
    " runtime_state, created_at, updated_at, version) VALUES"
    " ('w1', 'alpha', 'ann', 'img', 'running', 'pending', '', '{}',"
    " '2030-01-01 00:00:00.000000', '2030-01-01 00:00:00.000000', 1)"
)


def test_upgrade_builds_the_tables_in_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tidepool.db"  # the folder does not exist yet either
    url = f"sqlite:///{path}"
    assert migrate.current(url) is None

    migrate.upgrade(url)

    tables = {name for kind, name, _ in schema(path) if kind == "table"}
    assert tables == {"alembic_version", "workspaces", "workspace_events", "jobs", "workers"}
    assert migrate.current(url) == "0006"
    indexes = {name: sql for kind, name, sql in schema(path) if kind == "index"}
    assert "WHERE status != 'deleted'" in indexes["uq_workspaces_live_name"]
    assert indexes["uq_workspaces_live_name"].startswith("CREATE UNIQUE INDEX")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_upgrade_twice_changes_nothing_and_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "tidepool.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    with sqlite3.connect(path) as connection:
        connection.execute(OLD_ROW)
    before = schema(path)

    migrate.upgrade(url)

    assert schema(path) == before
    assert migrate.current(url) == "0006"
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM workspaces").fetchall() == [("alpha",)]
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [("0006",)]


def test_a_workspace_made_before_templates_is_of_the_default_template(tmp_path: Path) -> None:
    path = tmp_path / "tidepool.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url, "0001")
    with sqlite3.connect(path) as connection:
        connection.execute(OLD_ROW)
        # What refers to the workspace (its events, its job) must not stop the upgrade.
        connection.execute(
            "INSERT INTO workspace_events (workspace_id, kind, value, detail, at)"
            " VALUES ('w1', 'status', 'pending', '', '2030-01-01 00:00:00.000000')"
        )

    migrate.upgrade(url)

    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT spec FROM workspaces").fetchall() == [("{}",)]
    assert from_spec({}) == ("default", Size(), None)


def test_the_migrations_match_the_tables_module(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tidepool.db'}"
    migrate.upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "tables.py changed without a migration (alembic revision)"


def test_the_migration_template_ships_with_the_package() -> None:
    assert (migrate.MIGRATIONS / "script.py.mako").is_file()
    assert (migrate.MIGRATIONS / "env.py").is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "sqlite:////var/lib/tidepool/tidepool.db",
            "sqlite+aiosqlite:////var/lib/tidepool/tidepool.db",
        ),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        (
            "postgresql://u:p%40ss@127.0.0.1:5432/db",
            "postgresql+psycopg://u:p%40ss@127.0.0.1:5432/db",
        ),
        ("postgresql+psycopg://u:p@db/tp", "postgresql+psycopg://u:p@db/tp"),
        ("postgres://u:p@db/tp", "postgresql+psycopg://u:p@db/tp"),
    ],
)
def test_async_url_names_the_shipped_async_driver(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_sync_url_keeps_the_password_and_uses_psycopg() -> None:
    assert sync_url("postgresql://u:secret@h/db") == "postgresql+psycopg://u:secret@h/db"
    assert sync_url("sqlite+aiosqlite:///x.db") == "sqlite:///x.db"


def test_an_unsupported_database_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="mysql"):
        async_url("mysql://u:p@h/db")
