"""A workspace's home volume, and the home work a request leaves for the reconciler.

Home (``/home/dev``) lives on an Incus volume of its own, named after the workspace's id
(``home_volume_for``), so it outlives the instance: a rebuild replaces the instance and keeps
home, a delete keeps home (with its automatic snapshot) for ``undelete``, a fork and an
undelete make a new workspace whose home starts as a copy of another's.

What home work is asked for is kept in the workspace's ``runtime_state`` under the keys
below, written by the request and cleared by the reconciler once done, so a crash between
the two loses nothing and repeats nothing:

- ``home``: the volume's name ("" or absent: home is still in the root filesystem, made
  before home volumes; it moves onto a volume at its next start);
- ``home_from``: where a new home is copied from (``{"volume", "snapshot"}``), for a fork or
  an undelete, read once when the volume is made;
- ``restore``: the snapshot to put back (``{"snapshot", "undo"}``; ``undo`` names the
  automatic snapshot taken first, so a restore can itself be undone);
- ``replaces``: a rebuild's old instance, deleted before the new one is made;
- ``delete_snapshot``: the name of the automatic snapshot a delete takes, chosen before it
  is taken (a repeated delete finds it taken and goes on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidepool.domain.names import instance_name_for

HOME = "home"
HOME_FROM = "home_from"
RESTORE = "restore"
REPLACES = "replaces"
DELETE_SNAPSHOT = "delete_snapshot"
#: Keys that make a workspace unsettled until the reconciler has done what they ask.
PENDING_WORK = (RESTORE, REPLACES)


@dataclass(frozen=True, slots=True)
class HomeSource:
    """Where a new home is copied from: another volume, as it is now or as one of its
    snapshots was."""

    volume: str
    snapshot: str = ""

    def as_state(self) -> dict[str, str]:
        return {"volume": self.volume, "snapshot": self.snapshot}


def home_volume_for(prefix: str, workspace_id: str) -> str:
    """The home volume of workspace ``workspace_id``: its instance's first name, ``-home``.

    Named after the id, not the workspace's name (a name is reused after a delete, an id
    never) nor the instance (a rebuild makes a new instance and keeps the volume)."""
    return f"{instance_name_for(prefix, workspace_id)}-home"


def home_of(state: Mapping[str, Any]) -> str:
    """The workspace's home volume ("": its home is in its root filesystem)."""
    return str(state.get(HOME) or "")


def source_of(state: Mapping[str, Any]) -> HomeSource | None:
    found = state.get(HOME_FROM)
    if not isinstance(found, Mapping) or not found.get("volume"):
        return None
    return HomeSource(str(found["volume"]), str(found.get("snapshot") or ""))


def has_pending_work(state: Mapping[str, Any]) -> bool:
    """True while a restore or a rebuild is asked for and not yet done."""
    return any(state.get(key) for key in PENDING_WORK)


def without(state: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key not in keys}
