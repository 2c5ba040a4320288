"""The databases a test ``serve`` runs on: a file of its own, or the test PostgreSQL emptied."""

from __future__ import annotations

import os
from pathlib import Path


def database_url(kind: str, directory: Path) -> str:
    """A fresh, empty database of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        return f"sqlite:///{directory / 'tidepool.db'}"
    url = os.environ.get("TIDEPOOL_TEST_POSTGRES_URL")
    assert url, "TIDEPOOL_TEST_POSTGRES_URL is unset: run ./scripts/postgres (scripts/test does)"
    reset_postgres(url)
    return url


def reset_postgres(url: str) -> None:
    """Empty the test PostgreSQL (nothing else ever uses it); a SQLite URL is left alone."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
