"""Where a new workspace goes on a cluster: Incus's own scheduler, or the member with the
most memory left, within a template's cluster group if it names one.

Pure: the cluster port reports the members; this decides the ``target`` a create is sent
with (``None``: let Incus choose; ``@group``: Incus chooses within the group; a member name:
there).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tidepool.errors import RuntimeUnavailableError


class PlacementPolicy(enum.StrEnum):
    #: Incus's scheduler (it picks the member with the fewest instances).
    INCUS = "incus"
    #: Tidepool's: the member whose running workspaces were promised the least memory (their
    #: limits), as a share of its memory: what they may take, not what they use this second.
    LEAST_MEMORY = "least_memory"


@dataclass(frozen=True, slots=True)
class MemberLoad:
    memory_total: int
    #: Promised to the running workspaces there (the sum of their memory limits).
    memory_used: int

    @property
    def share(self) -> float:
        return self.memory_used / self.memory_total if self.memory_total else 1.0


class Placeable(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def online(self) -> bool: ...
    @property
    def load(self) -> MemberLoad: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


def target_for(
    policy: PlacementPolicy, members: Sequence[Placeable], group: str = ""
) -> str | None:
    """The ``target`` of a create; ``RuntimeUnavailableError`` when no member can take it
    (none online, or none in ``group``): the create waits for one, as for an unreachable
    runtime, and says why."""
    if not members:
        return None  # not a cluster: the one server takes it
    eligible = [m for m in members if m.online and (not group or group in m.groups)]
    if not eligible:
        where = f"in cluster group {group!r}" if group else "in the cluster"
        raise RuntimeUnavailableError(f"No member {where} is online to take a new workspace.")
    if policy is PlacementPolicy.INCUS:
        return f"@{group}" if group else None
    return min(eligible, key=lambda m: (m.load.share, m.name)).name
