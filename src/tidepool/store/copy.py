"""Copy every row of one Tidepool database into another, empty one: SQLite to PostgreSQL.

Switching ``database_url`` alone starts the platform on an empty database: the workspaces,
their history and their jobs stay behind, and their instances become strangers to adopt one
by one. ``copy_database`` carries them over exactly instead: the same ids, the same
``runtime_state`` (so each workspace finds its instance again), the same event ``seq``.

Both databases are migrated to the newest schema first, so the tables match column for
column; the tables are then copied in ``metadata.sorted_tables`` order (workspaces before the
events and jobs that refer to them), in batches, in ONE transaction on the target: a copy that
fails half-way, or whose row counts do not match the source's, leaves the target as it was.
The target must hold no rows at all, so nothing is ever merged or overwritten.

The source is read in one snapshot (a SQLite read transaction, a PostgreSQL REPEATABLE READ
one), so a by-hand command writing meanwhile cannot make the copy inconsistent; the caller
still keeps ``serve`` away (its lock), or the copy would miss what it writes afterwards.

Passwords never leave this module unmasked: ``masked`` is the only form errors and reports use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    RuntimeUnavailableError,
    TidepoolError,
)
from tidepool.store import migrate
from tidepool.store.database import sqlite_pragmas
from tidepool.store.tables import metadata
from tidepool.store.urls import backend_name, sync_url

#: Rows per INSERT: enough that a large event log copies in few round trips to PostgreSQL,
#: few enough that a batch stays a few megabytes in memory.
BATCH_ROWS = 1000
_URL_HELP = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE"


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What was copied: rows per table, in the order they were copied, counted in both."""

    source: str
    target: str
    rows: dict[str, int]


def checked_url(url: str, what: str) -> str:
    """``url`` if it is a database URL Tidepool can use; else an ``InvalidInputError`` that
    names ``what`` but never echoes the URL (it may hold a password it failed to parse)."""
    try:
        backend_name(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise InvalidInputError(f"The {what} is not a database URL: {_URL_HELP}.") from None
    except InvalidInputError as error:
        raise InvalidInputError(f"The {what}: {error}") from None
    parsed = _normalised(url)
    if parsed.get_backend_name() == "sqlite" and _sqlite_file(parsed) is None:
        raise InvalidInputError(f"The {what} names no file (an in-memory database): {_URL_HELP}.")
    return url


def masked(url: str) -> str:
    """``url`` with its password as ``***``: the only form a URL is ever printed in."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(not a database URL)"


def same_database(first: str, second: str) -> bool:
    """True when both URLs reach one database: one SQLite file (however its path is
    written), or one PostgreSQL database and schema options on one server (whoever the user)."""
    a, b = _normalised(first), _normalised(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return _sqlite_file(a) == _sqlite_file(b)
    return (a.host or "localhost", a.port or 5432, a.database, dict(a.query)) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
        dict(b.query),
    )


def copy_database(source: str, target: str, batch_rows: int = BATCH_ROWS) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``; both are migrated first.

    Raises ``InvalidInputError`` for a bad URL, the same database twice or a source that does
    not exist, ``ConflictError`` for a target with rows (nothing written either way), and
    ``RuntimeUnavailableError`` when either cannot be reached, and ``TidepoolError`` if the
    counts disagree after copying (the transaction is rolled back).
    """
    checked_url(source, "source database URL")
    checked_url(target, "target database URL (--to)")
    if same_database(source, target):
        raise InvalidInputError(
            f"The source and the target are the same database ({masked(target)})."
        )
    if _normalised(source).get_backend_name() == "sqlite" and not _exists(source):
        raise InvalidInputError(f"There is no database at {masked(source)} to copy.")
    with _reachable(target):
        _refuse_rows(target)  # before migrating: a full target is not even upgraded
    with _reachable(source):
        migrate.upgrade(source)
    with _reachable(target):
        migrate.upgrade(target)
    with _engine(source) as reader, _engine(target) as writer, _reachable(target):
        rows = _copy(reader, writer, batch_rows)
    return CopyReport(masked(source), masked(target), rows)


def _copy(reader: Engine, writer: Engine, batch_rows: int) -> dict[str, int]:
    rows: dict[str, int] = {}
    snapshot = reader.connect().execution_options(
        **({"isolation_level": "REPEATABLE READ"} if reader.dialect.name == "postgresql" else {})
    )
    with snapshot as source, source.begin(), writer.begin() as target:
        if _count_rows(target):  # again, inside the transaction that writes
            raise ConflictError(_NOT_EMPTY)
        for table in _copied():
            ordered = sa.select(table).order_by(*table.primary_key.columns)
            result = source.execution_options(yield_per=batch_rows).execute(ordered)
            for batch in result.partitions():
                target.execute(table.insert(), [dict(row._mapping) for row in batch])
            rows[table.name] = _count(source, table)
            copied = _count(target, table)
            if copied != rows[table.name]:
                raise TidepoolError(
                    f"Copied {copied} rows of {table.name} but the source has "
                    f"{rows[table.name]}; nothing was written."
                )
        if writer.dialect.name == "postgresql":
            _bump_sequences(target)
    return rows


def _bump_sequences(connection: Connection) -> None:
    """Point each auto-incremented column's sequence (``workspace_events.seq``) past the rows
    copied with their own values: PostgreSQL's sequence did not count them, and the next
    event would otherwise be refused (a duplicate seq) or sort before older ones."""
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = sa.func.pg_get_serial_sequence(table.name, column.name)
        next_value = sa.func.coalesce(sa.func.max(column), 0) + 1
        connection.execute(sa.select(sa.func.setval(sequence, next_value, False)))


_NOT_EMPTY = (
    "The target database is not empty: it already holds workspaces, events or jobs. "
    "Copy only into a new, empty database; nothing was written."
)


def _refuse_rows(url: str) -> None:
    """``ConflictError`` if any of Tidepool's tables at ``url`` has a row. A SQLite file
    that does not exist yet is empty, and is not created just to find that out."""
    if _normalised(url).get_backend_name() == "sqlite" and not _exists(url):
        return
    with _engine(url) as engine, engine.connect() as connection:
        if _count_rows(connection):
            raise ConflictError(_NOT_EMPTY)


def _count_rows(connection: Connection) -> int:
    present = set(sa.inspect(connection).get_table_names())
    return sum(_count(connection, table) for table in _copied() if table.name in present)


def _copied() -> list[sa.Table]:
    """What a copy carries: everything but the workers' heartbeats, which say who was alive
    on the old database a moment ago, nothing a new one needs."""
    return [table for table in metadata.sorted_tables if table.name != "workers"]


def _count(connection: Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    """A plain engine with no pool; on SQLite with Tidepool's pragmas (foreign keys on), and
    its transactions begun by an explicit BEGIN, so a read is one snapshot."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    try:
        yield engine
    finally:
        engine.dispose()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the "begin" listener issues BEGIN instead
    sqlite_pragmas(dbapi_connection)


def _on_sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


@contextmanager
def _reachable(url: str) -> Iterator[None]:
    """A database that cannot be reached is a ``RuntimeUnavailableError`` naming it masked;
    the driver's reason is kept (it names host and port, never the password)."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        reason = getattr(error, "orig", None) or error
        raise RuntimeUnavailableError(f"Cannot use the database {masked(url)}: {reason}") from None


def _normalised(url: str) -> URL:
    return make_url(sync_url(url))


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _exists(url: str) -> bool:
    path = _sqlite_file(_normalised(url))
    return path is None or path.exists()
