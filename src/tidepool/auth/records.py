"""A small JSON file of records, changed under an exclusive lock, read from a cached copy.

Sessions and API tokens change from two kinds of process at once: ``tidepool serve`` (sign-in,
sign-out) and the CLI (``tidepool token create``). Each change reads, edits and atomically
replaces the file while it holds ``flock`` on a lock file beside it, so neither loses the
other's write. Readers keep the parsed file until its modification time or size changes, so
checking a credential on every request costs a ``stat``, not a parse.

That is the record set of one host (SQLite: one host, one data directory). Where several
``serve`` share PostgreSQL, the same records are rows of the database instead
(``tidepool.store.records.RecordTable``, the same interface, ``RecordSet``); the stores take
either, and the composition root (``tidepool.sign_in_records``) picks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

Records = dict[str, dict[str, Any]]


def fingerprint(secret: str) -> str:
    """What a file keeps of a random secret (a session cookie, a token): its SHA-256. A fast
    hash is enough for 256 random bits; bcrypt is for passwords that people choose."""
    return hashlib.sha256(secret.encode()).hexdigest()


class RecordSet(Protocol):
    """``{key: record}`` that several processes read and change; what every store is built on.

    ``read`` may answer from a copy up to a moment old (a ``stat`` for a file, half a second
    for a table); ``read_fresh`` asks the source now, for a caller about to answer "not found"
    (a session signed in through another process a moment ago is found at once). ``change``
    yields a fresh copy, written back when the block ends, with no other change in between;
    an exception in the block writes nothing. ``version`` changes whenever the records do."""

    def read(self) -> Records: ...

    def read_fresh(self) -> Records: ...

    def change(self) -> AbstractContextManager[Records]: ...

    def version(self) -> object: ...


def opened(where: Path | RecordSet) -> RecordSet:
    """A record set: the file at ``where``, or ``where`` itself (a table)."""
    return RecordFile(where) if isinstance(where, Path) else where


class RecordFile:
    """``{key: record}`` in one file readable by root only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._cached: Records = {}

    def version(self) -> tuple[int, int] | None:
        """What changes whenever the file does (None: there is no file)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def read(self) -> Records:
        """The records as they are on disk now (do not modify the result)."""
        version = self.version()
        if version is None:
            return {}
        if version != self._seen:
            self._cached = self._parse()
            self._seen = version
        return self._cached

    def read_fresh(self) -> Records:
        """The same as ``read``: a file's ``stat`` is already fresh."""
        return self.read()

    def _parse(self) -> Records:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        records: Records = data.get("records", {})
        return records

    @contextlib.contextmanager
    def change(self) -> Iterator[Records]:
        """Yield a fresh copy to edit; it is written back (atomically) when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_suffix(".lock")
        # Private like everything in the data directory, whoever's umask creates it.
        with os.fdopen(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            records = self._parse()
            yield records
            partial = self.path.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"records": records}, out)
            partial.replace(self.path)
