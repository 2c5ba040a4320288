"""In-memory stand-ins for Caddy's session and token maps, for unit tests."""

from __future__ import annotations

from tidepool.adapters.caddy.config import session_id, session_key_prefix


class InMemorySessionMap:
    def __init__(self) -> None:
        #: ``{entry id: (token, user)}``, as Caddy's map holds them.
        self.entries: dict[str, tuple[str, str]] = {}

    async def remember(self, key: str, token: str, user: str) -> None:
        self.entries.setdefault(session_id(key), (token, user))

    async def forget(self, key: str) -> None:
        self.entries.pop(session_id(key), None)

    async def known(self) -> set[str]:
        return {session_key_prefix(entry) for entry in self.entries}

    def user_for(self, token: str) -> str | None:
        """Who Caddy would let in with this cookie, without asking the control plane."""
        return next((user for t, user in self.entries.values() if t == token), None)


class InMemoryTokenMap:
    """The same for Caddy's token map (``CaddyTokenMap``): tokens by id."""

    def __init__(self) -> None:
        #: ``{token id: (Authorization header, user)}``.
        self.entries: dict[str, tuple[str, str]] = {}

    async def remember(self, name: str, credential: str, user: str) -> None:
        self.entries.setdefault(name, (credential, user))

    async def forget(self, name: str) -> None:
        self.entries.pop(name, None)

    async def known(self) -> set[str]:
        return set(self.entries)
