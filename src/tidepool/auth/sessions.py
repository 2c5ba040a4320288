"""Browser sessions for ``auth = "forward_auth"``: a random cookie, stored only as its hash.

The cookie carries 32 random bytes; the sessions file keeps their SHA-256, the user, the
session's CSRF token and its expiry, so a copy of the file signs nobody in.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tidepool.auth.records import RecordSet, fingerprint, opened

# The cookie's name and the proxy's key prefix are the contract with Caddy (``tidepool.edge``);
# kept importable from here.
from tidepool.edge import KEY_PREFIX_LENGTH as KEY_PREFIX_LENGTH
from tidepool.edge import SESSION_COOKIE as SESSION_COOKIE

#: The header the web app sends with the session's CSRF token on state-changing calls.
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_LIFETIME_SECONDS = 7 * 24 * 3600
#: Signing in more often ends the oldest sessions: each live session is an entry in Caddy's
#: session map, which every request to a workspace looks through.
MAX_SESSIONS_PER_USER = 10


def session_key(token: str) -> str:
    """What the store (and Caddy's session map ids) know a session by: its token's hash."""
    return fingerprint(token)


@dataclass(frozen=True, slots=True)
class Session:
    key: str
    user: str
    csrf_token: str
    expires: float


class SessionStore:
    def __init__(
        self,
        path: Path | RecordSet,
        lifetime_seconds: float = DEFAULT_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = opened(path)
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def create(self, user: str) -> tuple[str, Session]:
        """A new session for ``user``: the token (for the cookie, never stored) and its record."""
        token = secrets.token_urlsafe(32)
        session = Session(
            key=session_key(token),
            user=user,
            csrf_token=secrets.token_urlsafe(24),
            expires=self._clock() + self.lifetime_seconds,
        )
        with self._file.change() as records:
            records[session.key] = {
                "user": session.user,
                "csrf_token": session.csrf_token,
                "expires": session.expires,
            }
            theirs = sorted((r["expires"], k) for k, r in records.items() if r["user"] == user)
            for _, oldest in theirs[:-MAX_SESSIONS_PER_USER]:
                del records[oldest]
        return token, session

    def find(self, token: str) -> Session | None:
        """The live session this cookie value belongs to, or None (unknown, forged, expired)."""
        if not token or len(token) > 128:
            return None
        key = session_key(token)
        # Not in the copy: maybe signed in through another process a moment ago.
        record = self._file.read().get(key) or self._file.read_fresh().get(key)
        if record is None or record["expires"] <= self._clock():
            return None
        return Session(key, record["user"], record["csrf_token"], record["expires"])

    def end(self, key: str) -> bool:
        """Sign a session out; False if it was not there."""
        with self._file.change() as records:
            return records.pop(key, None) is not None

    def live_keys(self) -> set[str]:
        return set(self._file.read())

    def prune(self, live_users: frozenset[str]) -> list[str]:
        """Remove expired sessions and those of users who no longer exist; returns their keys."""
        now = self._clock()
        if not any(
            r["expires"] <= now or r["user"] not in live_users for r in self._file.read().values()
        ):
            return []
        with self._file.change() as records:
            gone = [
                key
                for key, r in records.items()
                if r["expires"] <= now or r["user"] not in live_users
            ]
            for key in gone:
                del records[key]
        return gone


class SessionCache(Protocol):
    """Where the proxy keeps sessions it may admit without asking (Caddy's session map)."""

    async def remember(self, key: str, token: str, user: str) -> None: ...

    async def forget(self, key: str) -> None:
        """Drop the session with this key (or with a key prefix from ``known``)."""

    async def known(self) -> set[str]:
        """The sessions held, by key prefix (the first 32 hex digits of the key)."""


async def sweep_sessions(
    store: SessionStore, cache: SessionCache, live_users: frozenset[str]
) -> int:
    """End expired sessions and those of removed users, in the store and in the proxy's cache
    (which also loses any entry the store no longer has). Returns how many the cache lost."""
    store.prune(live_users)
    live = {key[:KEY_PREFIX_LENGTH] for key in store.live_keys()}
    stale = await cache.known() - live
    for prefix in stale:
        await cache.forget(prefix)
    return len(stale)
