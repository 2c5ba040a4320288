"""A users file for tests, with cheap bcrypt hashes (real ones take a quarter second each)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import bcrypt

from tidepool.auth.users import UserFile


def write_users(
    path: Path, passwords: Mapping[str, str], admins: frozenset[str] = frozenset()
) -> UserFile:
    users = [
        {
            "name": name,
            "password_hash": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
            "admin": name in admins,
        }
        for name, password in passwords.items()
    ]
    path.write_text(json.dumps({"users": users}))
    return UserFile(path)
