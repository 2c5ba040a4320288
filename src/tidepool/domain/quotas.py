"""Per-user quotas: how many workspaces, how many running, and the CPUs and memory of the
running ones.

The platform's settings give everyone the same quota; an admin raises (or lowers) one user's
in the users file. A quota is checked when a workspace is created and when one is asked to
run, against what the user has now; going over it is refused with a message that names the
quota, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

from tidepool.errors import ConflictError, InvalidInputError

#: What a quota limits, as the settings (``quota_*``) and the users file name it.
QUOTA_NAMES = ("workspaces", "running", "cpus", "memory_mib")


class QuotaExceededError(ConflictError):
    """The user has what their quota allows already; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Quota:
    """None: no limit."""

    workspaces: int | None = None
    running: int | None = None
    cpus: int | None = None
    memory_mib: int | None = None

    def with_overrides(self, overrides: Mapping[str, int | None]) -> Quota:
        unknown = set(overrides) - set(QUOTA_NAMES)
        if unknown:
            raise InvalidInputError(
                f"Unknown quota {', '.join(sorted(unknown))}; there are: {', '.join(QUOTA_NAMES)}."
            )
        for name, value in overrides.items():
            if value is not None and value < 0:
                raise InvalidInputError(f"Quota {name} must be 0 or more, not {value}.")
        return replace(self, **overrides)

    def as_dict(self) -> dict[str, int | None]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True, slots=True)
class Footprint:
    """One workspace as a quota counts it."""

    running: bool
    cpus: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class Usage:
    workspaces: int = 0
    running: int = 0
    cpus: int = 0
    memory_mib: int = 0

    @classmethod
    def of(cls, footprints: Iterable[Footprint]) -> Usage:
        usage = cls()
        for one in footprints:
            usage = Usage(
                usage.workspaces + 1,
                usage.running + one.running,
                usage.cpus + (one.cpus if one.running else 0),
                usage.memory_mib + (one.memory_mib if one.running else 0),
            )
        return usage


def check(user: str, quota: Quota, usage: Usage, *, new: bool, runs: Footprint | None) -> None:
    """Refuse, naming the quota, if one more workspace (``new``) and one more running
    (``runs``, its size) would take ``user`` over ``quota``."""
    after = {
        "workspaces": (usage.workspaces + new, "workspaces"),
        "running": (usage.running + (runs is not None), "running workspaces"),
        "cpus": (usage.cpus + (runs.cpus if runs else 0), "CPUs in running workspaces"),
        "memory_mib": (
            usage.memory_mib + (runs.memory_mib if runs else 0),
            "MiB of memory in running workspaces",
        ),
    }
    for name, (wanted, what) in after.items():
        most = getattr(quota, name)
        grows = wanted > getattr(usage, name)
        if most is not None and grows and wanted > most:
            raise QuotaExceededError(
                f"Over quota: {user} may have {most} {what} (quota_{name}), and this would "
                f"make {wanted}. Stop or delete one, or ask an admin to raise the quota "
                f"(`tidepool user quota {user} --{name.replace('_', '-')} N`)."
            )
