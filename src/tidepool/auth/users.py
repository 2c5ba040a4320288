"""Tidepool's users: names, bcrypt password hashes and an admin flag, in one JSON file.

Caddy's ``basic_auth`` checks passwords against these hashes (with its hash cache, so bcrypt
runs once per credential, not per request); the API only ever sees the name Caddy vouched
for. Passwords are never stored, logged or echoed; the file is readable by root only.

Where several ``serve`` share PostgreSQL the users are a row of the database instead (a
``RecordSet`` keyed by name, ``users_in_file`` reads the old file into it), so a user added or
removed through one process is one on all.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import bcrypt

# The name rule is the domain's (Caddy's config needs it too); kept importable from here.
from tidepool.auth.records import Records, RecordSet
from tidepool.domain.users import USER_NAME as USER_NAME
from tidepool.domain.users import validate_user_name as validate_user_name
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeUnavailableError,
)

MIN_PASSWORD_LENGTH = 8
BCRYPT_ROUNDS = 12


@functools.cache
def _unknown_user_hash() -> bytes:
    """Checked against when a sign-in names nobody, to take as long as a real check."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(BCRYPT_ROUNDS))


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str
    admin: bool = False
    #: This user's quotas where they differ from the platform's (``quota_*``); 0 is none.
    quota: dict[str, int] = field(default_factory=dict)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password.encode()) > 72:
        raise InvalidInputError("Passwords are limited to 72 bytes (bcrypt's limit).")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def users_in_file(path: Path) -> Records:
    """A users file's users as records keyed by name (what the database keeps)."""
    return {u["name"]: _record(User(**u)) for u in json.loads(path.read_text()).get("users", [])}


def _record(user: User) -> dict[str, Any]:
    return {"password_hash": user.password_hash, "admin": user.admin, "quota": user.quota}


def _users(records: Records) -> list[User]:
    return [User(name, **record) for name, record in records.items()]


class UserFile:
    """The users, read fresh from disk on each call (it changes rarely and is tiny), or from
    a ``RecordSet`` (the database's row) when given one."""

    def __init__(self, path: Path | RecordSet) -> None:
        self._table = None if isinstance(path, Path) else path
        self.path = path if isinstance(path, Path) else Path(os.devnull)
        self._seen: tuple[int, int] | None = None
        self._cached: list[User] = []
        self._cached_from: Records | None = None
        self._version = 0.0

    def load(self, *, fresh: bool = False) -> list[User]:
        """The users now; parsed again only when the file changed (it is read per request).
        ``fresh`` asks the database now rather than a copy up to a moment old."""
        if self._table is not None:
            records = self._table.read_fresh() if fresh else self._table.read()
            if records is not self._cached_from:
                self._cached, self._cached_from = _users(records), records
            return self._cached
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            data = json.loads(self.path.read_text())
            self._cached = [User(**item) for item in data.get("users", [])]
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._cached

    def version(self) -> float:
        """What changes whenever the users do (the proxy's config holds them). On the
        database, a moment when it cannot be reached keeps the last value: no change seen."""
        if self._table is None:
            return self.path.stat().st_mtime if self.path.exists() else 0.0
        with contextlib.suppress(RuntimeUnavailableError):
            found = self._table.version()
            self._version = float(found) if isinstance(found, int) else self._version
        return self._version

    def names(self) -> frozenset[str]:
        return frozenset(u.name for u in self.load())

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a user, asking afresh before saying no (a user added through
        another process a moment ago exists)."""
        return self._find(name) is not None

    def _find(self, name: str) -> User | None:
        found = next((u for u in self.load() if u.name == name), None)
        if found is None and self._table is not None:
            found = next((u for u in self.load(fresh=True) if u.name == name), None)
        return found

    def _change(self, edit: Callable[[list[User]], list[User]]) -> None:
        """Replace the users with ``edit(users)``: under the row's lock for the database."""
        if self._table is None:
            self._save(edit(self.load()))
            return
        with self._table.change() as records:
            changed = edit(_users(records))
            records.clear()
            records.update({u.name: _record(u) for u in changed})

    def _save(self, users: list[User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.unlink(missing_ok=True)  # a leftover could have a wider mode
        # 0600 from the first byte: the hashes are never readable by others, not even briefly.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"users": [asdict(u) for u in users]}, indent=1))
        partial.replace(self.path)

    def get(self, name: str) -> User:
        user = self._find(name)
        if user is not None:
            return user
        raise NotFoundError(f"There is no user {name!r}.")

    def add(self, name: str, password: str, *, admin: bool = False) -> User:
        name = validate_user_name(name)
        user = User(name, hash_password(password), admin)

        def added(users: list[User]) -> list[User]:
            if any(u.name == name for u in users):
                raise ConflictError(f"User {name!r} exists already.")
            return [*users, user]

        self._change(added)
        return user

    def remove(self, name: str) -> None:
        self._change(lambda users: [u for u in _existing(users, name) if u.name != name])

    def set_admin(self, name: str, admin: bool) -> User:
        """Make ``name`` an admin or not. Their sessions and tokens lose (or gain) admin
        power at their next request; open event streams notice within seconds."""
        self._change(
            lambda users: [
                replace(u, admin=admin) if u.name == name else u for u in _existing(users, name)
            ]
        )
        return self.get(name)

    def set_quota(self, name: str, quota: dict[str, int]) -> User:
        """Give ``name`` their own quotas (``{"workspaces": 5}``), replacing the ones they
        had; ``{}`` gives them the platform's again. Checked at their next create or start."""
        self._change(
            lambda users: [
                replace(u, quota=dict(quota)) if u.name == name else u
                for u in _existing(users, name)
            ]
        )
        return self.get(name)

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs. An unknown name costs the same bcrypt run as a
        known one, so the time taken does not tell which names exist."""
        user = self._find(name)
        candidate = password.encode()[:72]
        if user is None:
            bcrypt.checkpw(candidate, _unknown_user_hash())
            return None
        return user if bcrypt.checkpw(candidate, user.password_hash.encode()) else None

    def admins(self) -> frozenset[str]:
        return frozenset(u.name for u in self.load() if u.admin)


def _existing(users: list[User], name: str) -> list[User]:
    """``users``, if ``name`` is one of them; else ``NotFoundError``."""
    if not any(u.name == name for u in users):
        raise NotFoundError(f"There is no user {name!r}.")
    return users
