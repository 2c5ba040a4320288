"""``CaddySessionMap``: teaches Caddy's session map a live session, and makes it forget one.

Entries are addressed by an id made from the session's hash, so ending a session (sign-out,
expiry, a removed user) needs only what the sessions file keeps, never the token itself.
Caddy's map is a cache of the sessions file: losing it (Caddy restarts, Tidepool rebuilds the
config) costs one round trip to the control plane per session, never a sign-in.
"""

from __future__ import annotations

import contextlib
import logging

from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.errors import NotFoundError, ProxyError

log = logging.getLogger(__name__)


class CaddySessionMap:
    def __init__(self, admin: CaddyAdmin) -> None:
        self._admin = admin

    async def remember(self, key: str, token: str, user: str) -> None:
        """Add the session unless Caddy has it; a failure only means a slower next request."""
        try:
            await self._admin.get(f"/id/{config.session_id(key)}")
            return
        except NotFoundError:
            pass
        except ProxyError as error:
            log.warning("could not read Caddy's session map: %s", error)
            return
        try:
            await self._admin.post(
                f"/id/{config.SESSIONS_ID}/mappings", config.session_mapping(key, token, user)
            )
        except (NotFoundError, ProxyError) as error:
            # Two first requests of one session race to add it; Caddy refuses the second.
            log.info("Caddy did not take a session: %s", str(error).replace(token, "…"))

    async def forget(self, key: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._admin.delete(f"/id/{config.session_id(key)}")

    async def known(self) -> set[str]:
        """The sessions Caddy holds now, by key prefix (to drop those that ended)."""
        try:
            mappings = await self._admin.get(f"/id/{config.SESSIONS_ID}/mappings")
        except NotFoundError:
            return set()
        return {config.session_key_prefix(m.get("@id", "")) for m in mappings or []} - {""}
