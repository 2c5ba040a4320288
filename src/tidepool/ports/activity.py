"""The port of activity: what can be seen of a running workspace's use from outside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tidepool.domain.work import Process


@dataclass(frozen=True, slots=True)
class Watched:
    """A running workspace to look at: its instance and its address."""

    instance: str
    address: str


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at one workspace."""

    #: code-server's last heartbeat (it beats while a browser is connected); None: never,
    #: or the IDE did not answer.
    ide_heartbeat: datetime | None = None
    #: Open connections into the workspace through the front door, by the workspace's port.
    connections: Mapping[int, int] = field(default_factory=dict)
    #: Open SSH tunnels (through the front door, or root's on the host).
    ssh_tunnels: int = 0
    #: Every process of the workspace; None when this runtime cannot see them (a remote
    #: Incus, a Tart VM), so running work is not evidence there.
    processes: Sequence[Process] | None = None


@runtime_checkable
class ActivityProbe(Protocol):
    """Looks at running workspaces from the host, without running anything inside them."""

    async def observe(self, watched: Sequence[Watched]) -> Mapping[str, Observation]:
        """One observation per instance of ``watched`` (keyed by instance name)."""
        ...

    async def aclose(self) -> None: ...
