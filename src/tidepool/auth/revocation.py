"""Revocation reaches workspace origins: grants that lost their reason are deleted, and the
connections they opened are cut.

A grant (``tidepool.auth.grants``) stays good while its user exists, the sign-in it came
from is live, and the user may still open the workspace (its owner, or an admin) — the very
workspace it was issued for: names are freed by a delete, so a grant older than the workspace
now holding its name was for another one, and goes. Sign-out
sweeps at once; the control plane also sweeps every few seconds, which catches what changes
elsewhere (``tidepool user remove``, a demotion, an expired session). A grant deleted is
refused on its next request; ``cut`` closes what is already open (terminals).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidepool.auth.grants import Grant, GrantStore
from tidepool.domain.ide import WORKSPACE_PORT
from tidepool.domain.names import WorkspaceName
from tidepool.domain.routing import Route
from tidepool.domain.workspace import Workspace
from tidepool.ports import RouteTable, WorkspaceStore

log = logging.getLogger(__name__)
#: A file's time comes from the kernel's coarse clock, a few milliseconds behind: a grant
#: issued just after its workspace was made can read as a little older.
CLOCK_SLACK = 1.0


@dataclass
class GrantRevoker:
    grants: GrantStore
    store: WorkspaceStore
    routes: RouteTable
    #: Who exists, and who is an admin, now (read at each sweep).
    users: Callable[[], frozenset[str]]
    admins: Callable[[], frozenset[str]]
    #: The live sessions' sources (``grants.grant_source``); None with basic auth.
    live_sources: Callable[[], set[str]] | None
    #: Closes the proxy's connections to an address and port.
    cut: Callable[[str, int], Awaitable[bool]]

    async def sweep(self) -> list[Grant]:
        """Delete every grant that should no longer work and cut its connections."""
        routes = await self.routes.entries()
        workspaces = {w.name: w for w in await self._every_workspace()}
        users, admins = self.users(), self.admins()
        sources = self.live_sources() if self.live_sources is not None else None

        def keep(grant: Grant) -> bool:
            if grant.user not in users:
                return False
            if grant.source != "basic" and (sources is None or grant.source not in sources):
                return False
            workspace = workspaces.get(WorkspaceName(grant.host.name))
            if workspace is None or grant.issued + CLOCK_SLACK < workspace.created_at.timestamp():
                return False
            return grant.user in admins or workspace.owner == grant.user

        gone = self.grants.revoke(keep)
        for target in {(g.host.name, g.host.port or WORKSPACE_PORT) for g in gone}:
            route: Route | None = routes.get(WorkspaceName(target[0]))
            if route is not None:
                await self.cut(route.address, target[1])
        if gone:
            log.info("revoked %d workspace grant(s)", len(gone))
        return gone

    async def _every_workspace(self) -> list[Workspace]:
        found: list[Workspace] = []
        while True:
            page = await self.store.list(limit=500, offset=len(found))
            found += page.items
            if not page.items or len(found) >= page.total:
                return found
