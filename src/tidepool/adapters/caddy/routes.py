"""``CaddyRouteTable``: the ``RouteTable`` port on Caddy's workspace map.

Each route is one entry in the map handler (``config.MAP_ID``), addressed by its own ``@id``,
so adding or removing one is a single small admin request.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.auth.users import validate_user_name
from tidepool.domain.names import validate_ipv4, validate_workspace_name
from tidepool.errors import NotFoundError, ProxyError


class CaddyRouteTable:
    """Routes ``/workspace/{name}/`` to ``{address}:8080`` through Caddy's map."""

    def __init__(self, admin: CaddyAdmin) -> None:
        self._admin = admin

    async def aclose(self) -> None:
        await self._admin.aclose()

    async def add(self, name: str, address: str, owner: str = "") -> bool:
        name = validate_workspace_name(name)
        address = validate_ipv4(address)
        if owner:
            validate_user_name(owner)
        entry = config.mapping(name, address, owner)
        try:
            current = await self._admin.get(f"/id/{config.route_id(name)}")
        except NotFoundError:
            current = None
        if current is not None:
            if current.get("outputs") == [address, owner]:
                return False
            await self._admin.patch(f"/id/{config.route_id(name)}", entry)
            return True
        try:
            await self._admin.post(f"/id/{config.MAP_ID}/mappings", entry)
        except NotFoundError:
            raise ProxyError(
                "Caddy has no Tidepool workspace map; run `tidepool caddy bootstrap` first."
            ) from None
        return True

    async def remove(self, name: str) -> None:
        name = validate_workspace_name(name)
        try:
            await self._admin.delete(f"/id/{config.route_id(name)}")
        except NotFoundError:
            raise NotFoundError(f"There is no route for workspace {name!r}.") from None

    async def list(self) -> Mapping[str, str]:
        try:
            mappings = await self._admin.get(f"/id/{config.MAP_ID}/mappings")
        except NotFoundError:
            return {}
        return config.routes_from_mappings(mappings or [])

    async def replace_all(self, routes: Mapping[str, str]) -> None:
        entries = [
            config.mapping(validate_workspace_name(n), validate_ipv4(a))
            for n, a in sorted(routes.items())
        ]
        await self._admin.patch(f"/id/{config.MAP_ID}/mappings", entries)
