"""The port of a runtime that spans several machines (an Incus cluster): its members, where
each instance lives, and moving one. A runtime on one machine has no such port; the services
then place nothing and record no location."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tidepool.domain.placement import MemberLoad


@dataclass(frozen=True, slots=True)
class Member:
    """One machine of the cluster as the runtime reports it."""

    name: str
    #: Answering and taking instances (Incus: ``Online``, not evacuated).
    online: bool
    load: MemberLoad
    #: The cluster groups it belongs to (a template may pin its workspaces to one).
    groups: tuple[str, ...] = ()
    #: What the runtime says of it when it is not online.
    message: str = ""


@runtime_checkable
class Cluster(Protocol):
    """Members, locations and moves. Instance names are already validated."""

    async def clustered(self) -> bool:
        """True when the runtime spans several machines (a single Incus server: False)."""
        ...

    async def members(self) -> Sequence[Member]:
        """Every member, online or not, in a stable order."""
        ...

    async def location(self, name: str) -> str:
        """The member ``name`` lives on. ``NotFoundError``."""
        ...

    async def move(self, name: str, member: str) -> None:
        """Move the stopped instance ``name`` to ``member``, files and all. ``NotFoundError``
        for either; ``ConflictError`` if it is running."""
        ...

    async def aclose(self) -> None:
        """Release the connection; the port is not used afterwards."""
        ...
