"""Sign-in records as rows of PostgreSQL, for several ``serve`` sharing one database.

Each record set (users, sessions, tokens, SSH keys, personal settings, idle choices) is one
row of ``sign_in_records`` (migration 0005): its records as JSON and a version that every
change bumps. ``RecordTable`` has the interface of the file it replaces
(``tidepool.auth.records.RecordSet``), so the stores above it do not change:

- ``change()`` is one transaction that locks the row (``SELECT ... FOR UPDATE``): two
  processes changing the same set at once queue, and neither loses the other's write.
- ``read()`` answers from a copy re-checked against the row's version at most every
  ``RECHECK_SECONDS``: one short query (the version, and the JSON only when it moved), so
  checking a credential per request costs a dictionary lookup most of the time.
- ``read_fresh()`` re-checks now; the stores call it before answering "not found", so a
  session made through another process a moment ago is found at once.

The interface is synchronous (it is called from the event loop, as the file's was), so the
tables have a small sync engine of their own per database, shared by every table of the
process: one round trip on loopback is a fraction of a millisecond.

The first use of a set in a process makes its row if missing, and merges a record file left in
the data directory (from the SQLite days, or from ``tidepool database copy``) into it, in the
same transaction, then renames the file aside (``sessions.json.moved-to-database``) so it is
never imported twice. The file's own lock is held throughout, so two processes of one host
(``serve`` and the CLI) import it once; processes of other hosts merge their own files, each
under the row's lock, so none loses the other's records. A key in both keeps the row's record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from tidepool.errors import RuntimeUnavailableError
from tidepool.store.urls import sync_url

Records = dict[str, dict[str, Any]]
#: How stale a read may be before it asks the database again, in seconds.
RECHECK_SECONDS = 0.5
#: How long reaching the database, and one statement, may take: the calls are synchronous, on
#: the event loop, so a database that does not answer fails them (transient) instead.
CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 5000
#: The suffix a record file gets once its records are in the database.
MOVED_SUFFIX = ".moved-to-database"

#: Outside ``tables.metadata``: on PostgreSQL only (migration 0005); ``database copy`` moves
#: the files, not rows.
shared = sa.MetaData()
sign_in_records = sa.Table(
    "sign_in_records",
    shared,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text(), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
)
_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(url: str) -> Engine:
    """The process's one small sync engine for ``url`` (sign-in records and codes)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(
                sync_url(url),
                pool_size=2,
                max_overflow=8,
                pool_pre_ping=True,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
            sa.event.listen(engine, "connect", _bounded)
            _engines[url] = engine
        return engine


def _bounded(dbapi_connection: Any, _record: Any) -> None:
    """No statement (a row lock waited for included) runs past ``STATEMENT_TIMEOUT_MS``: these
    calls run on the event loop, which an unreachable or stuck database must not hold."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    finally:
        cursor.close()
    dbapi_connection.commit()


@contextlib.contextmanager
def reachable(what: str) -> Iterator[None]:
    """Turn "the database cannot be reached" into the error every caller treats as transient."""
    try:
        yield
    except _UNREACHABLE as error:
        reason = getattr(error, "orig", None) or error
        raise RuntimeUnavailableError(
            f"The database cannot be reached ({what}): {reason}"
        ) from error


def records_in_file(path: Path) -> Records:
    """What a ``RecordFile`` holds: ``{"records": {...}}``."""
    records: Records = json.loads(path.read_text()).get("records", {})
    return records


class RecordTable:
    """One record set, a row of ``sign_in_records``; ``import_from`` is its old file."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        import_from: Path | None = None,
        parse: Callable[[Path], Records] = records_in_file,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._engine = engine
        self._import_from = import_from
        self._parse = parse
        self._recheck = recheck_seconds
        self._clock = clock
        self._ready = False
        self._lock = threading.Lock()
        #: (version, records, when checked): replaced whole, never changed in place.
        self._seen: tuple[int, Records, float] | None = None

    def read(self) -> Records:
        """The records as of at most ``recheck_seconds`` ago (do not modify the result)."""
        seen = self._seen
        if seen is not None and self._clock() - seen[2] < self._recheck:
            return seen[1]
        return self.read_fresh()

    def read_fresh(self) -> Records:
        """The records as the database has them now (one query; the JSON only if it moved)."""
        self._ensure()
        seen = self._seen
        known = seen[0] if seen is not None else -1
        version, data = sign_in_records.c.version, sign_in_records.c.data
        query = sa.select(version, sa.case((version != known, data), else_=sa.null())).where(
            sign_in_records.c.name == self.name
        )
        with reachable(f"reading {self.name}"), self._engine.connect() as connection:
            row = connection.execute(query).one()
        records: Records = seen[1] if row[1] is None and seen is not None else json.loads(row[1])
        self._remember(int(row[0]), records)
        return records

    def version(self) -> int:
        """The row's version, as of at most ``recheck_seconds`` ago."""
        self.read()
        seen = self._seen
        return seen[0] if seen is not None else 0

    @contextlib.contextmanager
    def change(self) -> Iterator[Records]:
        """Yield the records to edit, with the row locked; written back when the block ends,
        nothing written if it raises."""
        self._ensure()
        with reachable(f"changing {self.name}"), self._engine.begin() as connection:
            version, text = self._locked(connection)
            records: Records = json.loads(text)
            yield records
            changed = json.dumps(records)
            if changed == text:  # nothing changed (a sweep that found nothing): no new version
                self._remember(version, records)
                return
            self._write(connection, changed, version + 1)
        self._remember(version + 1, records)

    def _locked(self, connection: sa.Connection) -> tuple[int, str]:
        """The row's version and JSON, locked until the transaction ends."""
        row = connection.execute(
            sa.select(sign_in_records.c.version, sign_in_records.c.data)
            .where(sign_in_records.c.name == self.name)
            .with_for_update()
        ).one()
        return int(row[0]), str(row[1])

    def _write(self, connection: sa.Connection, text: str, version: int) -> None:
        connection.execute(
            sa.update(sign_in_records)
            .where(sign_in_records.c.name == self.name)
            .values(data=text, version=version)
        )

    def _remember(self, version: int, records: Records) -> None:
        with self._lock:
            seen = self._seen
            if seen is None or version >= seen[0]:
                self._seen = (version, records, self._clock())

    def _ensure(self) -> None:
        """Make the row if missing and move the old file's records into it (once)."""
        if self._ready:
            return
        with reachable(f"opening {self.name}"), _file_lock(self._import_from):
            with self._engine.begin() as connection:
                connection.execute(
                    insert(sign_in_records)
                    .values(name=self.name, data="{}", version=0)
                    .on_conflict_do_nothing()
                )
                version, text = self._locked(connection)
                found = self._import_from
                if found is not None and found.exists():
                    records: Records = json.loads(text)
                    for key, record in self._parse(found).items():
                        records.setdefault(key, record)
                    self._write(connection, json.dumps(records), version + 1)
                else:
                    found = None
            if found is not None:
                _move_aside(found)
        self._ready = True


@contextlib.contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """The lock ``RecordFile`` takes to change ``path``: one importer per host at a time."""
    if path is None or not path.parent.is_dir():
        yield
        return
    lock = path.with_suffix(".lock")
    with os.fdopen(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def _move_aside(path: Path) -> None:
    """Rename an imported file, never over an earlier one (kept as it was, for the record)."""
    target = path.with_name(path.name + MOVED_SUFFIX)
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}{MOVED_SUFFIX}.{count}")
    path.replace(target)
