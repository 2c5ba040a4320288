"""The audit log: JSON lines appended to ``DATA_DIR/audit.log``, never rewritten.

Why a file and not a database table: every writer can reach it, including the CLI commands
that change users and tokens without the platform running; it is append-only by construction
(opened only with ``O_APPEND``, no code path truncates, rewrites or deletes it), so an
operator can make the kernel enforce that too (``chattr +a``); it survives a database restore
or migration; and it is readable with ``tail`` and ``jq`` when Tidepool itself is down.

Each entry is one line written by one ``write`` and synced to disk before ``record``
returns: concurrent writers (``serve``, the CLI) never interleave within a line, and a sign-in
or a stop that was answered is on disk. The file is 0600 from its first byte (created with that
mode, under the data directory's 0700). A line that does not parse (a torn tail after a power
loss) is skipped by readers, never repaired in place.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from tidepool.domain.audit import MAX_AUDIT_LIMIT, AuditEntry, AuditQuery, Outcome

AUDIT_FILE = "audit.log"
#: Longer values (a name an attacker typed, an error message) are cut to this many characters.
MAX_FIELD = 300


def audit_log_in(data_dir: Path) -> AuditLog:
    """The audit log of the installation whose data directory is ``data_dir``."""
    return AuditLog(data_dir / AUDIT_FILE)


class AuditLog:
    """The ``AuditTrail`` port over one append-only file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: AuditEntry) -> None:
        """Write ``entry`` as one line at the end of the file and sync it (blocking)."""
        line = (json.dumps(_as_record(entry), ensure_ascii=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def record(self, entry: AuditEntry) -> None:
        await asyncio.to_thread(self.append, entry)

    def entries(self, query: AuditQuery) -> tuple[list[AuditEntry], bool]:
        """The newest ``query.limit`` matching entries, oldest first, and whether older
        matching entries were left out (blocking: reads the whole file)."""
        limit = max(1, min(query.limit, MAX_AUDIT_LIMIT))
        kept: collections.deque[AuditEntry] = collections.deque(maxlen=limit)
        matched = 0
        try:
            with self.path.open("rb") as log:
                for raw in log:
                    entry = _parse(raw)
                    if entry is not None and query.matches(entry):
                        kept.append(entry)
                        matched += 1
        except FileNotFoundError:
            return [], False
        return list(kept), matched > len(kept)

    async def read(self, query: AuditQuery) -> tuple[list[AuditEntry], bool]:
        return await asyncio.to_thread(self.entries, query)


def _as_record(entry: AuditEntry) -> dict[str, str]:
    return {
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "action": entry.action[:MAX_FIELD],
        "actor": entry.actor[:MAX_FIELD],
        "token": entry.token[:MAX_FIELD],
        "address": entry.address[:MAX_FIELD],
        "target": entry.target[:MAX_FIELD],
        "outcome": entry.outcome.value,
        "detail": entry.detail[:MAX_FIELD],
    }


def _parse(raw: bytes) -> AuditEntry | None:
    try:
        record: dict[str, Any] = json.loads(raw)
        return AuditEntry(
            action=str(record["action"]),
            actor=str(record["actor"]),
            target=str(record["target"]),
            outcome=Outcome(record["outcome"]),
            token=str(record.get("token", "")),
            address=str(record.get("address", "")),
            detail=str(record.get("detail", "")),
            at=dt.datetime.fromisoformat(str(record["at"])),
        )
    except (ValueError, KeyError, TypeError):
        return None
