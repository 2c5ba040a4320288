"""Database URLs as users write them, mapped to the drivers Tidepool ships.

Settings and scripts say ``sqlite:///PATH`` or ``postgresql://USER:PASS@HOST/DB``. SQLAlchemy
would pick pysqlite and psycopg2 for those; Tidepool ships aiosqlite for the async engine and
psycopg 3 (which is both sync and async) for PostgreSQL, so the driver is filled in here, in one
place, instead of asking every user to know SQLAlchemy's driver names.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

from tidepool.errors import InvalidInputError

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _backend(url: str) -> tuple[URL, str]:
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise InvalidInputError(
            f"Unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE."
        )
    return parsed, backend


def async_url(url: str) -> str:
    """``url`` with the driver the async engine uses (aiosqlite, psycopg 3).

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db`` and ``postgresql://...`` becomes
    ``postgresql+psycopg://...``; a URL that already names one of these drivers is kept.
    """
    parsed, backend = _backend(url)
    return _render(parsed.set(drivername=_ASYNC_DRIVERS[backend]))


def sync_url(url: str) -> str:
    """``url`` with the driver migrations use (the standard sqlite3 module, psycopg 3)."""
    parsed, backend = _backend(url)
    return _render(parsed.set(drivername=_SYNC_DRIVERS[backend]))


def backend_name(url: str) -> str:
    """``sqlite`` or ``postgresql``; ``InvalidInputError`` for anything else."""
    return _backend(url)[1]


def _render(url: URL) -> str:
    # str(URL) masks the password as "***"; the engine needs the real one.
    return url.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A PostgreSQL ``url`` as libpq (psycopg's own ``connect``) reads it: no driver name."""
    parsed, _ = _backend(url)
    return _render(parsed.set(drivername="postgresql"))
