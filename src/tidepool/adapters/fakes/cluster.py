"""``InMemoryCluster``: the ``Cluster`` port over an ``InMemoryRuntime``, for unit tests.

An instance lives where its create sent it; one sent to a group (``@gpu``) or nowhere goes to
the first online member (in that group), as a scheduler would put it somewhere valid.
``tests/cluster`` holds the real adapter to the same behaviour on a real cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError
from tidepool.ports import InstanceStatus
from tidepool.ports.cluster import Member


class InMemoryCluster:
    def __init__(self, runtime: InMemoryRuntime, members: Sequence[Member]) -> None:
        self.runtime = runtime
        self.members_now = list(members)
        self.moved: dict[str, str] = {}

    async def aclose(self) -> None:
        """Nothing to release."""

    async def clustered(self) -> bool:
        return bool(self.members_now)

    async def members(self) -> Sequence[Member]:
        return sorted(self.members_now, key=lambda m: m.name)

    async def location(self, name: str) -> str:
        instance = self.runtime.instances.get(name)
        if instance is None:
            raise NotFoundError(f"Instance {name!r} does not exist.")
        if name in self.moved:
            return self.moved[name]
        target = instance.target or ""
        if target and not target.startswith("@"):
            return target
        group = target.removeprefix("@")
        online = [m for m in self.members_now if m.online and (not group or group in m.groups)]
        return online[0].name if online else ""

    async def move(self, name: str, member: str) -> None:
        instance = self.runtime.instances.get(name)
        if instance is None:
            raise NotFoundError(f"Instance {name!r} does not exist.")
        if member not in {m.name for m in self.members_now}:
            raise InvalidInputError(f"There is no cluster member {member!r}.")
        if instance.status is not InstanceStatus.STOPPED:
            raise ConflictError(f"Instance {name!r} is running; stop it before moving it.")
        self.moved[name] = member
