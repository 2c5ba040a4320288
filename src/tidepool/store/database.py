"""One async engine per process, and the few things that differ between SQLite and PostgreSQL.

The store's methods are written once, over this: they ask for a ``read()`` or a ``write()``
transaction and for ``now()``, and the backend's quirks stay here.

SQLite. Every connection turns on WAL (readers never wait for the writer), a busy timeout (a
writer waits for the lock instead of failing at once) and foreign keys. Write transactions
start with ``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes later can
fail with "database is locked" no matter the timeout, because SQLite cannot upgrade a stale
snapshot; taking the write lock up front makes concurrent writers queue instead. Reads stay
deferred so they never wait for a writer. For that, the driver's own transaction handling is
switched off and SQLAlchemy's ``begin`` event issues the BEGIN (the recipe in SQLAlchemy's
SQLite documentation).

For readers that keep what they read (the API's rendered list pages), ``change_marker`` tells
cheaply whether anything committed since. On SQLite it is ``PRAGMA data_version`` on a
connection of its own that never writes, which changes whenever any other connection, in this
process or another, commits.

On PostgreSQL it is kept in memory while this process's listener is connected (``listen``,
``tidepool.store.notifications``): a count moved by every notification of a write to
``workspaces`` (a trigger sends it in the writer's transaction: it arrives only after the
commit, so a snapshot taken after it sees the write) and, at once, after each of this
process's own write transactions (so a process always reads its own writes, before its
notification is back). Why that is sound: the reader takes the marker BEFORE its snapshot. A
write this process made, or heard of, before that moved the count first, so the page read
after includes it; a write committed after the snapshot moves the count later, when it is
done or heard of, and outdates the page. The one window is a write by another process that
committed but whose notification is still on its way (a millisecond on one network): the same
as reading from a replica that lags by that much. While the listener is down, the marker is
read from migration 0003's row (one round trip), and a reconnection moves the count, since
notifications sent meanwhile are lost. The memory count is negative and the row's version is
not, so a marker of one kind is never taken for the other.

The listener also rings this process's doorbell for every write, by anyone, to workspaces,
events or jobs: the worker and the event streams of every process wake at once.

PostgreSQL. Leases are compared with the database's clock, not each worker's, so workers on
hosts whose clocks drift still agree on when a lease has run out.

Failures to reach the database (refused, dropped, locked past the timeout) become
``RuntimeUnavailableError``, the error every caller already treats as transient: the worker
backs off and tries again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tidepool.domain.doorbell import Doorbell
from tidepool.errors import RuntimeUnavailableError, TidepoolError
from tidepool.store.tables import UtcDateTime
from tidepool.store.urls import async_url, backend_name, libpq_url, sync_url

if TYPE_CHECKING:
    from tidepool.store.notifications import Listener

#: How long a SQLite writer waits for another writer's lock before giving up.
T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 15_000
_WRITE = "tidepool_write"
#: The PostgreSQL change marker's one row (migration 0003; outside ``metadata`` on purpose).
_MARKER = sa.text("SELECT version FROM workspace_marker WHERE id = 1")
_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """WAL, the busy timeout and foreign keys, for a fresh SQLite connection (any driver)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


class Database:
    """The engine shared by the store and the queue; closed once by whichever closes first."""

    def __init__(self, url: str) -> None:
        self.backend = backend_name(url)
        if self.backend == "sqlite":
            self.engine: AsyncEngine = create_async_engine(async_url(url))
            _take_over_sqlite_transactions(self.engine.sync_engine)
        else:
            self.engine = create_async_engine(
                async_url(url), pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        self._url = url
        self._reader: Engine | None = None
        self._watcher: sa.PoolProxiedConnection | None = None
        self._watcher_lock = threading.Lock()
        self._closed = False
        #: Rung by the store after each committed event or job (``Doorbell``), and by the
        #: listener for every process's (``listen``).
        self.doorbell = Doorbell()
        self._listener: Listener | None = None
        #: The in-memory change marker on PostgreSQL (see the module's docstring).
        self._moves = 1

    def listen(self) -> Listener | None:
        """On PostgreSQL, start hearing every process's writes, on the running event loop
        (the one that uses this database); the listener, or None on SQLite or once closed.
        Idempotent: ``change_marker`` calls it too."""
        if self.backend != "postgresql" or self._closed:
            return None
        if self._listener is None:
            # Imported here: psycopg costs a start on SQLite 50 ms (and a crash's recovery).
            from tidepool.store.notifications import Listener

            self._listener = Listener(libpq_url(self._url), self._heard)
            self._listener.start()
        return self._listener

    def _heard(self, table: str | None) -> None:
        if table is None or table == "workspaces":
            self._moves += 1
        self.doorbell.ring()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that only reads: one consistent view, never waits for writers."""
        async with self._transaction(write=False) as connection:
            yield connection

    async def read_in_thread(self, work: Callable[[Connection], T]) -> T:
        """Run a whole read (``work`` on a sync connection, in one transaction) in a worker
        thread: one hop for the read instead of one per statement through the async driver,
        which is what a busy API's list and get requests spend their time on."""

        def run() -> T:
            with self._sync_reader().connect() as connection, connection.begin():
                return work(connection)

        try:
            return await asyncio.to_thread(run)
        except _UNREACHABLE as error:
            reason = getattr(error, "orig", None) or error
            raise RuntimeUnavailableError(
                f"The {self.backend} database cannot be reached or stays locked: {reason}"
            ) from error

    def _sync_reader(self) -> Engine:
        if self._reader is None:
            if self.backend == "sqlite":
                self._reader = sa.create_engine(sync_url(self._url))
                _take_over_sqlite_transactions(self._reader)
            else:
                self._reader = sa.create_engine(
                    sync_url(self._url), pool_size=10, max_overflow=10, pool_pre_ping=True
                )
        return self._reader

    async def change_marker(self) -> int | None:
        """SQLite's data version; on PostgreSQL, the count kept in memory while the listener
        is connected, else the row a trigger bumps in the same transaction as every write to
        ``workspaces`` (migration 0003). None when it cannot be read (nothing is kept then)."""
        if self.backend == "sqlite":
            return self.data_version()
        if self._closed:
            return None
        listener = self.listen()
        # Only on the loop it listens for: another loop's (a test's) reads the row.
        if listener and listener.connected and listener.loop is asyncio.get_running_loop():
            return -self._moves
        try:
            async with self.read() as connection:
                found = (await connection.execute(_MARKER)).scalar()
        except (TidepoolError, sa.exc.SQLAlchemyError):
            return None
        return int(found) if found is not None else None

    def data_version(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on the watcher connection (see the module's
        docstring); None on PostgreSQL, or when SQLite cannot answer at once.

        Called on the event loop, not in a thread: it takes microseconds and waits for no
        lock (the watcher's busy timeout is 0), where a thread hop would cost more than the
        work it saves.
        """
        if self.backend != "sqlite" or self._closed:
            return None
        with self._watcher_lock:
            try:
                if self._watcher is None:
                    self._watcher = self._open_watcher()
                row = self._watcher.cursor().execute("PRAGMA data_version").fetchone()
            except (sqlite3.Error, sa.exc.DBAPIError):
                return None
        return int(row[0])

    def _open_watcher(self) -> sa.PoolProxiedConnection:
        # Detached: it is never handed back to the pool with its busy timeout of 0.
        watcher = self._sync_reader().raw_connection()
        watcher.detach()
        watcher.cursor().execute("PRAGMA busy_timeout=0")
        return watcher

    @asynccontextmanager
    async def write(self, *, workspaces: bool = True) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes; committed when the block ends, rolled back on error.

        Unless told it leaves ``workspaces`` alone (the job queue's, the heartbeats'), it
        moves the in-memory change marker once it is over, committed or not: never before
        the commit, or a page read in between would be kept with the new marker."""
        try:
            async with self._transaction(write=True) as connection:
                yield connection
        finally:
            if workspaces:
                self._moves += 1

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                if write:
                    await connection.execution_options(**{_WRITE: True})
                async with connection.begin():
                    yield connection
        except _UNREACHABLE as error:
            reason = getattr(error, "orig", None) or error
            raise RuntimeUnavailableError(
                f"The {self.backend} database cannot be reached or stays locked: {reason}"
            ) from error

    def now(self, plus_seconds: float = 0.0) -> sa.ColumnElement[datetime]:
        """The current time plus ``plus_seconds``, as a SQL expression for leases and delays."""
        delta = timedelta(seconds=plus_seconds)
        if self.backend == "postgresql":
            return sa.func.now() + sa.literal(delta, sa.Interval())
        return sa.literal(datetime.now(UTC) + delta, UtcDateTime())

    async def aclose(self) -> None:
        """Close every pooled connection; later calls do nothing."""
        if not self._closed:
            self._closed = True
            if self._listener is not None:
                await self._listener.aclose()
            await self.engine.dispose()
            with self._watcher_lock:
                if self._watcher is not None:
                    self._watcher.close()
            if self._reader is not None:
                self._reader.dispose()


def _take_over_sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the driver from issuing its own BEGIN; "_on_begin" below issues ours.
        dbapi_connection.isolation_level = None
        sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
