"""``IncusCluster``: the ``Cluster`` port on an Incus cluster, through its REST API.

Members come from ``/1.0/cluster/members`` with each one's memory from its ``state``; an
instance's member is its ``location``. A single Incus server answers as a cluster of none
(``clustered`` False), so the same code serves both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tidepool.adapters.incus.client import IncusClient
from tidepool.domain.names import validate_workspace_name
from tidepool.domain.placement import MemberLoad
from tidepool.errors import ConflictError, InvalidInputError
from tidepool.ports.cluster import Member

#: What ``location`` says on a server that is not clustered.
NOT_CLUSTERED = "none"


class IncusCluster:
    def __init__(self, client: IncusClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def clustered(self) -> bool:
        cluster = await self._client.sync("GET", "/1.0/cluster")
        return bool((cluster or {}).get("enabled"))

    async def members(self) -> Sequence[Member]:
        if not await self.clustered():
            return []
        listed = await self._client.sync("GET", "/1.0/cluster/members", params={"recursion": "1"})
        states = await asyncio.gather(*(self._state(item) for item in listed or []))
        members = [_member(item, state) for item, state in zip(listed or [], states, strict=True)]
        return sorted(members, key=lambda m: m.name)

    async def _state(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("status") != "Online":
            return {}
        name = item["server_name"]
        state: dict[str, Any] = await self._client.sync("GET", f"/1.0/cluster/members/{name}/state")
        return state or {}

    async def location(self, name: str) -> str:
        validate_workspace_name(name)
        instance = await self._client.sync("GET", f"/1.0/instances/{name}")
        location = str((instance or {}).get("location") or "")
        return "" if location == NOT_CLUSTERED else location

    async def move(self, name: str, member: str) -> None:
        validate_workspace_name(name)
        known = {m.name for m in await self.members()}
        if member not in known:
            raise InvalidInputError(
                f"There is no cluster member {member!r}; members: {', '.join(sorted(known))}."
            )
        state = await self._client.sync("GET", f"/1.0/instances/{name}/state")
        if (state or {}).get("status") != "Stopped":
            raise ConflictError(f"Instance {name!r} is running; stop it before moving it.")
        await self._client.run(
            "POST",
            f"/1.0/instances/{name}",
            params={"target": member},
            json={"name": name, "migration": True},
            timeout=1800,
        )


def _member(item: dict[str, Any], state: dict[str, Any]) -> Member:
    memory = ((state.get("sysinfo") or {}) if state else {}) or {}
    total = int(memory.get("total_ram") or 0)
    used = total - int(memory.get("free_ram") or 0) - int(memory.get("buffered_ram") or 0)
    online = item.get("status") == "Online"
    return Member(
        name=str(item["server_name"]),
        online=online,
        load=MemberLoad(memory_total=total, memory_used=max(used, 0)),
        groups=tuple(str(g) for g in item.get("groups") or ()),
        message="" if online else str(item.get("message") or item.get("status") or ""),
    )
