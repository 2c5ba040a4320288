"""Snapshots of a workspace's home, and how long the automatic ones are kept.

Issue 29 groundwork (pure; no runtime takes snapshots yet). A snapshot is of the home
volume, not the root filesystem: home is what a user made, the root is the template's image
(a rebuild replaces it), so a restore never rolls back an image a team rolled out.

Two kinds, told apart by name:

- a user's, named by them (``before-upgrade``): kept until they delete it;
- an automatic one, taken before a delete or an idle stop: ``auto-<why>-<UTC time>``, a
  prefix users may not take. These are what ``Retention`` prunes: the newest ``keep`` of
  them are kept, and none older than ``days``. A deleted workspace's last automatic
  snapshot is what ``undelete`` brings back, for as long as retention keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tidepool.errors import InvalidInputError

#: A snapshot name a user may give: like a workspace name, without the automatic prefix.
SNAPSHOT_NAME_RULE = r"^(?!auto-)[a-z][a-z0-9-]{0,62}$"
_NAME = re.compile(SNAPSHOT_NAME_RULE)
AUTOMATIC_PREFIX = "auto-"
_AUTOMATIC = re.compile(r"^auto-(delete|idle|restore)-(\d{8}T\d{6}Z)$")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class Why(StrEnum):
    """Why an automatic snapshot was taken."""

    DELETE = "delete"
    IDLE = "idle"
    #: Before a restore replaced home: a restore is undone by restoring this one.
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str
    taken_at: datetime

    @property
    def automatic(self) -> bool:
        return self.name.startswith(AUTOMATIC_PREFIX)


def validate_snapshot_name(name: str) -> str:
    """A user's snapshot name, or ``InvalidInputError`` saying what one may be."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"{name!r} is not a snapshot name: a lowercase letter first, then lowercase "
            "letters, digits and hyphens (at most 63), not starting with 'auto-' (Tidepool's "
            "own snapshots)."
        )
    return name


def automatic_name(why: Why, at: datetime) -> str:
    """The name of an automatic snapshot taken at ``at`` (UTC, to the second)."""
    return f"{AUTOMATIC_PREFIX}{why.value}-{at.astimezone(UTC).strftime(_TIME_FORMAT)}"


def taken_at(name: str) -> datetime | None:
    """When an automatic snapshot was taken, read from its name (None: not one)."""
    found = _AUTOMATIC.match(name)
    if found is None:
        return None
    return datetime.strptime(found.group(2), _TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long automatic snapshots are kept: the newest ``keep`` (0: any number), none
    older than ``days`` (0: any age). Both 0: kept until deleted by hand."""

    keep: int = 5
    days: float = 7.0

    def __post_init__(self) -> None:
        if self.keep < 0 or self.days < 0:
            raise InvalidInputError("Snapshot retention counts and days are 0 or more.")

    def expired(self, snapshots: Iterable[Snapshot], now: datetime) -> list[Snapshot]:
        """The automatic snapshots to delete now, oldest first; a user's are never among
        them."""
        automatic = sorted(
            (s for s in snapshots if s.automatic), key=lambda s: s.taken_at, reverse=True
        )
        cutoff = now - timedelta(days=self.days) if self.days else None
        doomed = [
            snapshot
            for rank, snapshot in enumerate(automatic)
            if (self.keep and rank >= self.keep) or (cutoff and snapshot.taken_at < cutoff)
        ]
        return sorted(doomed, key=lambda s: s.taken_at)

    def keeps_until(self, taken: datetime) -> datetime | None:
        """Until when an automatic snapshot taken at ``taken`` is kept at the longest (None:
        no age limit): what ``undelete`` tells the user of a deleted workspace."""
        return taken + timedelta(days=self.days) if self.days else None
