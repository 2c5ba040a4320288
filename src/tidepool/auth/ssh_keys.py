"""Users' SSH public keys: what lets them into their workspaces over ``tidepool ssh``.

One JSON file beside the tokens (``DATA_DIR/ssh_keys.json``, root's alone), changed under a
lock by ``serve`` and the CLI alike (``records.RecordFile``; on PostgreSQL a row of the
database, ``records.RecordSet``, so every ``serve`` sees the same keys). A key belongs to one
user: the same key under two users would make a key stand for two people, so it is refused (as
already in use, without saying whose). Keys are public, so nothing here is secret; what matters is
that only their owner (or root on the host) adds or removes them, which is the API's check.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidepool.auth.records import RecordSet, opened
from tidepool.domain.ssh_keys import PublicKey, parse_public_key
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError

KEY_ID_SHAPE = re.compile(r"[0-9a-f]{12}")
NAME_SHAPE = re.compile(r"[A-Za-z0-9 @._+-]{0,64}")
#: More keys than anyone carries; a bound on what one user can make every workspace write.
MAX_KEYS_PER_USER = 50


@dataclass(frozen=True, slots=True)
class SshKey:
    id: str
    user: str
    #: What the user calls it (the key's comment when they gave no name).
    name: str
    key: PublicKey
    created: float

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint


class SshKeyStore:
    def __init__(self, path: Path | RecordSet, clock: Callable[[], float] = time.time) -> None:
        self._file = opened(path)
        self._clock = clock

    def add(self, user: str, public_key: str, name: str = "") -> SshKey:
        """Add ``public_key`` (one ``.pub`` line) for ``user``; ``InvalidInputError`` for a key
        that is not one, ``ConflictError`` for one already in use."""
        key = parse_public_key(public_key)
        name = name.strip() or key.comment[:64]
        if not NAME_SHAPE.fullmatch(name):
            raise InvalidInputError(
                "A key's name has up to 64 letters, digits, spaces or . _ - + @ characters."
            )
        key_id = secrets.token_hex(6)
        with self._file.change() as records:
            mine = [r for r in records.values() if r["user"] == user]
            if any(r["fingerprint"] == key.fingerprint for r in records.values()):
                raise ConflictError(f"This key ({key.fingerprint}) is already in use.")
            if len(mine) >= MAX_KEYS_PER_USER:
                raise ConflictError(
                    f"You have {MAX_KEYS_PER_USER} keys, the most one user may have: "
                    "remove one first."
                )
            created = self._clock()
            records[key_id] = {
                "user": user,
                "name": name,
                "type": key.type,
                "key": base64.b64encode(key.blob).decode(),
                "comment": key.comment,
                "fingerprint": key.fingerprint,
                "created": created,
            }
        return SshKey(key_id, user, name, key, created)

    def list(self, user: str) -> list[SshKey]:
        """``user``'s keys, oldest first."""
        keys = [_key(i, r) for i, r in self._file.read().items() if r["user"] == user]
        return sorted(keys, key=lambda k: (k.created, k.id))

    def lines_of(self, user: str) -> tuple[str, ...]:
        """``user``'s keys as ``authorized_keys`` lines, each named as they named it."""
        return tuple(key.key.line(key.name) for key in self.list(user))

    def remove(self, user: str, key_id: str) -> SshKey:
        """Remove ``user``'s key ``key_id``; another user's answers like a missing one."""
        with self._file.change() as records:
            record = records.get(key_id) if KEY_ID_SHAPE.fullmatch(key_id) else None
            if record is None or record["user"] != user:
                raise NotFoundError(f"You have no SSH key {key_id!r}.")
            del records[key_id]
        return _key(key_id, record)

    def version(self) -> object:
        """Changes when any key changes (for those who push keys to workspaces)."""
        return self._file.version()


def _key(key_id: str, record: dict[str, object]) -> SshKey:
    key = PublicKey(
        str(record["type"]), base64.b64decode(str(record["key"])), str(record["comment"])
    )
    created = float(str(record["created"]))
    return SshKey(key_id, str(record["user"]), str(record["name"]), key, created)
