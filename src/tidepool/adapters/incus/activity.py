"""The activity probe for local Incus containers: everything seen from the host.

Per look, for all running workspaces together: one list call to incusd (each container's
init pid), one pass over ``/proc`` (their processes), one read of the host's TCP table and of
the front door's open sockets (connections through Caddy), and one ``/healthz`` request per
workspace (code-server's heartbeat; that path does not itself count as a beat). Nothing runs
inside a workspace, so looking never keeps one awake.

A virtual machine's processes are not visible from the host: for those, for another runtime
than Incus (no client), and whenever the pid namespace cannot be read, ``processes`` is None
and running work is simply not evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tidepool.adapters.incus import proc
from tidepool.adapters.incus.client import IncusClient
from tidepool.domain.ide import SSH_BRIDGE_PORT, WORKSPACE_PORT
from tidepool.domain.work import Process
from tidepool.ports.activity import Observation, Watched

HEALTHZ_TIMEOUT = 2.0


class IncusActivityProbe:
    def __init__(
        self,
        client: IncusClient | None,
        front_door_pid: Callable[[], int | None],
        http: httpx.AsyncClient | None = None,
        proc_root: Path = proc.PROC,
    ) -> None:
        self._client = client
        self._front_door_pid = front_door_pid
        # No kept-alive connection: code-server counts open connections as a browser's, and
        # a probe's left open would keep every workspace awake.
        self._http = http or httpx.AsyncClient(
            timeout=HEALTHZ_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._proc = proc_root

    async def observe(self, watched: Sequence[Watched]) -> Mapping[str, Observation]:
        if not watched:
            return {}
        inits = await self._container_inits({w.instance for w in watched})
        heartbeats = await asyncio.gather(*(self._heartbeat(w.address) for w in watched))
        processes, connections, caddy = await asyncio.to_thread(self._host_side, inits)
        observations = {}
        for item, heartbeat in zip(watched, heartbeats, strict=True):
            through_caddy = proc.count_by_port(connections, item.address, caddy)
            to_bridge = proc.count_by_port(connections, item.address)[SSH_BRIDGE_PORT]
            ports = {p: n for p, n in through_caddy.items() if p != SSH_BRIDGE_PORT}
            observations[item.instance] = Observation(
                ide_heartbeat=heartbeat,
                connections=ports,
                ssh_tunnels=to_bridge,
                processes=processes.get(item.instance),
            )
        return observations

    def _host_side(
        self, inits: Mapping[str, int]
    ) -> tuple[dict[str, list[Process]], list[proc.Connection], set[int]]:
        processes = proc.processes_by_init(inits, self._proc)
        connections = proc.established(self._proc)
        pid = self._front_door_pid()
        caddy = proc.socket_inodes(pid, self._proc) if pid else set()
        return processes, connections, caddy

    async def _container_inits(self, names: set[str]) -> dict[str, int]:
        if self._client is None or not self._client.local:
            # Another runtime than Incus, or an Incus on another host: the process ids it
            # reports are not this host's, and reading them here would read someone else's.
            return {}
        instances = await self._client.sync("GET", "/1.0/instances", params={"recursion": "2"})
        inits = {}
        for item in instances or []:
            pid = (item.get("state") or {}).get("pid") or 0
            if item.get("name") in names and item.get("type") == "container" and pid > 0:
                inits[str(item["name"])] = int(pid)
        return inits

    async def _heartbeat(self, address: str) -> datetime | None:
        """code-server's ``lastHeartbeat`` (milliseconds since the epoch; 0: never)."""
        try:
            response = await self._http.get(f"http://{address}:{WORKSPACE_PORT}/healthz")
            last = int(response.json().get("lastHeartbeat") or 0)
        except (httpx.HTTPError, ValueError, AttributeError, TypeError):
            return None
        return datetime.fromtimestamp(last / 1000, UTC) if last > 0 else None

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._client is not None:
            await self._client.aclose()
