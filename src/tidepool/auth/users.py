"""Tidepool's users: names, bcrypt password hashes and an admin flag, in one JSON file.

Caddy's ``basic_auth`` checks passwords against these hashes (with its hash cache, so bcrypt
runs once per credential, not per request); the API only ever sees the name Caddy vouched
for. Passwords are never stored, logged or echoed; the file is readable by root only.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import bcrypt

# The name rule is the domain's (Caddy's config needs it too); kept importable from here.
from tidepool.domain.users import USER_NAME as USER_NAME
from tidepool.domain.users import validate_user_name as validate_user_name
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError

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


class UserFile:
    """The users, read fresh from disk on each call (it changes rarely and is tiny)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._cached: list[User] = []

    def load(self) -> list[User]:
        """The users now; parsed again only when the file changed (it is read per request)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            data = json.loads(self.path.read_text())
            self._cached = [User(**item) for item in data.get("users", [])]
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._cached

    def names(self) -> frozenset[str]:
        return frozenset(u.name for u in self.load())

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
        for user in self.load():
            if user.name == name:
                return user
        raise NotFoundError(f"There is no user {name!r}.")

    def add(self, name: str, password: str, *, admin: bool = False) -> User:
        name = validate_user_name(name)
        users = self.load()
        if any(u.name == name for u in users):
            raise ConflictError(f"User {name!r} exists already.")
        user = User(name, hash_password(password), admin)
        self._save([*users, user])
        return user

    def remove(self, name: str) -> None:
        users = self.load()
        if not any(u.name == name for u in users):
            raise NotFoundError(f"There is no user {name!r}.")
        self._save([u for u in users if u.name != name])

    def set_admin(self, name: str, admin: bool) -> User:
        """Make ``name`` an admin or not. Their sessions and tokens lose (or gain) admin
        power at their next request; open event streams notice within seconds."""
        users = self.load()
        if not any(u.name == name for u in users):
            raise NotFoundError(f"There is no user {name!r}.")
        changed = [replace(u, admin=admin) if u.name == name else u for u in users]
        self._save(changed)
        return self.get(name)

    def set_quota(self, name: str, quota: dict[str, int]) -> User:
        """Give ``name`` their own quotas (``{"workspaces": 5}``), replacing the ones they
        had; ``{}`` gives them the platform's again. Checked at their next create or start."""
        users = self.load()
        if not any(u.name == name for u in users):
            raise NotFoundError(f"There is no user {name!r}.")
        self._save([replace(u, quota=dict(quota)) if u.name == name else u for u in users])
        return self.get(name)

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs. An unknown name costs the same bcrypt run as a
        known one, so the time taken does not tell which names exist."""
        user = next((u for u in self.load() if u.name == name), None)
        candidate = password.encode()[:72]
        if user is None:
            bcrypt.checkpw(candidate, _unknown_user_hash())
            return None
        return user if bcrypt.checkpw(candidate, user.password_hash.encode()) else None

    def admins(self) -> frozenset[str]:
        return frozenset(u.name for u in self.load() if u.admin)
