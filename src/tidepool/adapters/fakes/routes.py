"""``InMemoryRouteTable``: the ``RouteTable`` port in a dict, for unit tests.

``tests/contract/test_route_table_contract.py`` runs one suite over it and the real
``CaddyRouteTable``. It can misbehave like a real proxy: ``restart()`` forgets every route
(a Caddy restarted without its autosave), ``unavailable`` makes every call raise ``ProxyError``.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidepool.domain.names import WorkspaceName, validate_ipv4, validate_workspace_name
from tidepool.domain.routing import Route
from tidepool.domain.users import validate_user_name
from tidepool.errors import NotFoundError, ProxyError


class InMemoryRouteTable:
    def __init__(self) -> None:
        self.routes: dict[WorkspaceName, str] = {}
        #: The owner recorded with each route (who may pass when authentication is on).
        self.owners: dict[WorkspaceName, str] = {}
        self.unavailable = False
        #: How many times the table was changed (each change is a config reload in Caddy).
        self.changes = 0

    def restart(self) -> None:
        """Lose every route, as a proxy restarted with an empty config would."""
        self.routes.clear()
        self.owners.clear()

    def _check(self) -> None:
        if self.unavailable:
            raise ProxyError("Injected: the proxy is unavailable.")

    async def add(self, name: str, address: str, owner: str = "") -> bool:
        self._check()
        name, address = validate_workspace_name(name), validate_ipv4(address)
        if owner:
            validate_user_name(owner)
        if self.routes.get(name) == address and self.owners.get(name) == owner:
            return False
        self.routes[name] = address
        self.owners[name] = owner
        self.changes += 1
        return True

    async def remove(self, name: str) -> None:
        self._check()
        name = validate_workspace_name(name)
        if name not in self.routes:
            raise NotFoundError(f"There is no route for workspace {name!r}.")
        del self.routes[name]
        self.owners.pop(name, None)
        self.changes += 1

    async def list(self) -> Mapping[WorkspaceName, str]:
        self._check()
        return dict(self.routes)

    async def entries(self) -> Mapping[WorkspaceName, Route]:
        self._check()
        return {name: Route(a, self.owners.get(name, "")) for name, a in self.routes.items()}

    async def aclose(self) -> None:
        """Nothing to release."""
