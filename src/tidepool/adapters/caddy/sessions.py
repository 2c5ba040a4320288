"""Caddy's credential maps: teaches Caddy a live session or API token, and makes it forget one.

Entries are addressed by an id made from what the control plane keeps of the credential (a
session's hash, a token's id), so ending one (sign-out, expiry, revocation, a removed user)
never needs the secret itself. Each map is a cache of its store: losing it (Caddy restarts,
Tidepool rebuilds the config) costs one round trip to the control plane per credential, never
a sign-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config.tokens import (
    TOKENS_ID,
    token_entry_id,
    token_id_of,
    token_mapping,
)
from tidepool.errors import NotFoundError, ProxyError

log = logging.getLogger(__name__)

#: How often an entry is offered to Caddy before the next request's own try is left to it.
REMEMBER_ATTEMPTS = 5
#: Seconds before the second try (growing by as much each time): a config change is quick.
REMEMBER_BACKOFF = 0.05


class CaddyCredentialMap(ABC):
    """One of Caddy's maps from a credential, exactly as sent, to its user."""

    def __init__(self, admin: CaddyAdmin, map_id: str) -> None:
        self._admin = admin
        self._map_id = map_id

    @abstractmethod
    def entry_id(self, name: str) -> str:
        """This map's id for the entry called ``name``."""

    @abstractmethod
    def mapping(self, name: str, credential: str, user: str) -> config.JSON:
        """The entry that admits ``credential`` as ``user``."""

    @abstractmethod
    def name_of(self, entry_id: str) -> str:
        """The name an entry's id carries ("" for an entry not of this map)."""

    async def remember(self, name: str, credential: str, user: str) -> None:
        """Add the entry unless Caddy has it; a failure only means a slower next request.

        Several first requests teach Caddy at once, and a config change cuts the admin
        connections of the changes that arrived with it (or refuses a second add of one
        entry): each try reads again first, so a change that did land is not made twice."""
        for attempt in range(REMEMBER_ATTEMPTS):
            try:
                if await self._holds(name):
                    return
                await self._admin.post(
                    f"/id/{self._map_id}/mappings", self.mapping(name, credential, user)
                )
                return
            except (NotFoundError, ProxyError) as error:
                log.info(
                    "Caddy's map %s did not take an entry (try %d): %s",
                    self._map_id,
                    attempt + 1,
                    str(error).replace(credential, "…"),
                )
                await asyncio.sleep(REMEMBER_BACKOFF * (attempt + 1))

    async def _holds(self, name: str) -> bool:
        try:
            await self._admin.get(f"/id/{self.entry_id(name)}")
        except NotFoundError:
            return False
        return True

    async def forget(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._admin.delete(f"/id/{self.entry_id(name)}")

    async def known(self) -> set[str]:
        """The names of the entries Caddy holds now (to drop those that ended)."""
        try:
            mappings = await self._admin.get(f"/id/{self._map_id}/mappings")
        except NotFoundError:
            return set()
        return {self.name_of(m.get("@id", "")) for m in mappings or []} - {""}


class CaddySessionMap(CaddyCredentialMap):
    """Sessions by key (or key prefix, as ``known`` gives them back)."""

    def __init__(self, admin: CaddyAdmin) -> None:
        super().__init__(admin, config.SESSIONS_ID)

    def entry_id(self, name: str) -> str:
        return config.session_id(name)

    def mapping(self, name: str, credential: str, user: str) -> config.JSON:
        return config.session_mapping(name, credential, user)

    def name_of(self, entry_id: str) -> str:
        return config.session_key_prefix(entry_id)


class CaddyTokenMap(CaddyCredentialMap):
    """API tokens by id, each under the ``Authorization`` header that presented it."""

    def __init__(self, admin: CaddyAdmin) -> None:
        super().__init__(admin, TOKENS_ID)

    def entry_id(self, name: str) -> str:
        return token_entry_id(name)

    def mapping(self, name: str, credential: str, user: str) -> config.JSON:
        return token_mapping(name, credential, user)

    def name_of(self, entry_id: str) -> str:
        return token_id_of(entry_id)
