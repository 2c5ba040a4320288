"""Placing workspaces on a cluster: the target of each create, and the member each one's
instance lives on, recorded with the workspace (the API shows it; a start keeps it).

On a runtime of one machine there is no ``Cluster`` port and nothing here runs. An Incus
server that is not clustered is asked once, at the first create, and then left alone: a
create or a start on one host pays nothing for this.
"""

from __future__ import annotations

from collections.abc import Callable

from tidepool.domain.placement import PlacementPolicy, target_for
from tidepool.domain.workspace import Workspace
from tidepool.ports.cluster import Cluster

#: A workspace's placement: the policy, and the cluster group its template keeps it to.
PlacementOf = Callable[[Workspace], tuple[PlacementPolicy, str]]


class Placing:
    def __init__(self, cluster: Cluster, placement_of: PlacementOf) -> None:
        self._cluster = cluster
        self._placement_of = placement_of
        self._clustered: bool | None = None

    async def clustered(self) -> bool:
        if self._clustered is None:
            self._clustered = await self._cluster.clustered()
        return self._clustered

    async def target(self, workspace: Workspace) -> str | None:
        """Where ``workspace``'s new instance goes (None: the runtime chooses)."""
        if not await self.clustered():
            return None
        policy, group = self._placement_of(workspace)
        return target_for(policy, await self._cluster.members(), group)

    async def location(self, instance: str) -> str:
        """The member ``instance`` lives on ("": not a cluster)."""
        return await self._cluster.location(instance) if await self.clustered() else ""

    async def offline(self) -> dict[str, str]:
        """The members that are away, with what the cluster says of each ({} on one host)."""
        if not await self.clustered():
            return {}
        return {m.name: m.message for m in await self._cluster.members() if not m.online}

    async def move(self, instance: str, member: str) -> str:
        """Move the stopped ``instance`` to ``member``; returns where it is now."""
        await self._cluster.move(instance, member)
        return await self._cluster.location(instance)

    async def aclose(self) -> None:
        await self._cluster.aclose()
