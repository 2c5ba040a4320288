"""``IncusCluster``: the ``Cluster`` port on an Incus cluster, through its REST API.

Members come from ``/1.0/cluster/members`` with each one's memory from its ``state``, and the
memory Tidepool's running workspaces were promised there (their ``limits.memory``); an
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
        listed, instances = await asyncio.gather(
            self._client.sync("GET", "/1.0/cluster/members", params={"recursion": "1"}),
            self._client.sync("GET", "/1.0/instances", params={"recursion": "1"}),
        )
        states = await asyncio.gather(*(self._state(item) for item in listed or []))
        committed = _committed(instances or [])
        members = [
            _member(item, state, committed.get(str(item["server_name"]), 0))
            for item, state in zip(listed or [], states, strict=True)
        ]
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


def _committed(instances: list[dict[str, Any]]) -> dict[str, int]:
    """The memory promised to running instances (their ``limits.memory``), by member: what
    the workspaces there may take, whatever the host happens to use at this moment."""
    committed: dict[str, int] = {}
    for instance in instances:
        if instance.get("status") not in ("Running", "Starting"):
            continue
        limit = str((instance.get("config") or {}).get("limits.memory") or "")
        where = str(instance.get("location") or "")
        committed[where] = committed.get(where, 0) + _bytes(limit)
    return committed


def _bytes(limit: str) -> int:
    """``2048MiB`` as bytes (0 for none, or a share such as ``50%``: nothing promised)."""
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "B": 1}
    for unit, size in units.items():
        if limit.endswith(unit) and limit[: -len(unit)].isdigit():
            return int(limit[: -len(unit)]) * size
    return int(limit) if limit.isdigit() else 0


def _member(item: dict[str, Any], state: dict[str, Any], committed: int) -> Member:
    memory = (state.get("sysinfo") or {}) if state else {}
    online = item.get("status") == "Online"
    return Member(
        name=str(item["server_name"]),
        online=online,
        load=MemberLoad(memory_total=int(memory.get("total_ram") or 0), memory_used=committed),
        groups=tuple(str(g) for g in item.get("groups") or ()),
        message="" if online else str(item.get("message") or item.get("status") or ""),
    )
