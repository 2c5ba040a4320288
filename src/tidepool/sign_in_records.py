"""Where sign-in records live, decided once from settings: part of the composition root.

On SQLite (one host, one data directory, one ``serve``) they are the small JSON files of the
data directory (``RecordFile``), changed under ``flock`` by ``serve`` and the CLI; handshake
codes stay in the memory of the one control plane. Where several ``serve`` share PostgreSQL,
each host has its own data directory, so the records are rows of the database
(``store.records.RecordTable``) and codes too (``store.handshake_codes.SharedCodes``): a
session, token, user or code made through any process is valid on all. Grants stay files on
each edge (``GrantStore``): its own Caddy reads them per request, and a grant missing on
another edge is issued again by the handshake from the (shared) session.

Each record set is one object per process (``_tables``), so its cached copy is shared by
every caller of the process (the API, the sweepers, the policies).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from tidepool.auth.handshake import CodeBook, HandshakeCodes
from tidepool.auth.idle_choices import FILE_NAME as IDLE_FILE
from tidepool.auth.idle_choices import IdleChoices
from tidepool.auth.personal import PersonalFiles
from tidepool.auth.records import Records, RecordSet
from tidepool.auth.sessions import SessionStore
from tidepool.auth.ssh_keys import SshKeyStore
from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile, users_in_file
from tidepool.settings import Settings
from tidepool.store.handshake_codes import SharedCodes
from tidepool.store.records import RecordTable, records_in_file, shared_engine
from tidepool.store.urls import backend_name

_tables: dict[tuple[str, str], RecordTable] = {}
_tables_lock = threading.Lock()


def shared(settings: Settings) -> bool:
    """Whether the records are the database's (PostgreSQL) rather than the data directory's."""
    return backend_name(settings.resolved_database_url) == "postgresql"


def record_set(
    settings: Settings, path: Path, parse: Callable[[Path], Records] = records_in_file
) -> Path | RecordSet:
    """The record set whose file is ``path``: the file itself on SQLite, else its row (which
    takes in the file's records at its first use, ``RecordTable``)."""
    if not shared(settings):
        return path
    return _table(settings.resolved_database_url, path, parse)


def _table(url: str, path: Path, parse: Callable[[Path], Records]) -> RecordTable:
    name = path.name.removesuffix(".json")
    with _tables_lock:
        table = _tables.get((url, name))
        if table is None:
            table = RecordTable(shared_engine(url), name, import_from=path, parse=parse)
            _tables[(url, name)] = table
        return table


def users(settings: Settings) -> UserFile:
    return UserFile(record_set(settings, settings.users_file, users_in_file))


def sessions(settings: Settings) -> SessionStore:
    return SessionStore(record_set(settings, settings.sessions_file), settings.session_hours * 3600)


def tokens(settings: Settings) -> TokenStore:
    return TokenStore(record_set(settings, settings.tokens_file))


def ssh_keys(settings: Settings) -> SshKeyStore:
    return SshKeyStore(record_set(settings, settings.ssh_keys_file))


def personal(settings: Settings) -> PersonalFiles:
    return PersonalFiles(record_set(settings, settings.data_dir / PersonalFiles.FILE))


def idle_choices(settings: Settings) -> IdleChoices:
    """Users' own idle timeouts, within the bounds the settings give."""
    where = record_set(settings, settings.data_dir / IDLE_FILE)
    return IdleChoices(where, settings.idle_bounds, settings.idle_timeout_minutes)


def handshake_codes(settings: Settings) -> CodeBook:
    """One-time codes: in memory on SQLite, in the database where several ``serve`` share it."""
    if not shared(settings):
        return HandshakeCodes()
    return SharedCodes(shared_engine(settings.resolved_database_url))


def move_into_database(settings: Settings, url: str) -> list[str]:
    """Take every record file of the data directory into the PostgreSQL at ``url`` now
    (``tidepool database copy`` calls it, so nothing waits for the first ``serve`` on the
    host that has the files); the names of the files moved. Should it fail, the files stay
    and the first ``serve`` on PostgreSQL takes them in."""
    if backend_name(url) != "postgresql":
        return []
    moved = []
    for path, parse in (
        (settings.users_file, users_in_file),
        (settings.sessions_file, records_in_file),
        (settings.tokens_file, records_in_file),
        (settings.ssh_keys_file, records_in_file),
        (settings.data_dir / PersonalFiles.FILE, records_in_file),
        (settings.data_dir / IDLE_FILE, records_in_file),
    ):
        if path.exists():
            _table(url, path, parse).read_fresh()
            moved.append(path.name)
    return moved
