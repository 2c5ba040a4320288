"""The owner Tidepool records for a Tart VM: a small file in the VM's state folder, since
Tart keeps no metadata of its own where Incus has config keys."""

from __future__ import annotations

import json
from pathlib import Path

from tidepool.domain.ownership import InstanceOwner

OWNER_FILE = "owner.json"


def read_owner(directory: Path) -> InstanceOwner | None:
    """The owner recorded in ``directory``; None when none is (or it cannot be read)."""
    try:
        recorded = json.loads((directory / OWNER_FILE).read_text())
        return InstanceOwner(str(recorded["installation"]), str(recorded["workspace_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_owner(directory: Path, owner: InstanceOwner) -> None:
    """Record ``owner`` in ``directory``, whole or not at all (a rename replaces the old)."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {"installation": owner.installation, "workspace_id": owner.workspace_id}
    scratch = directory / f".{OWNER_FILE}.tmp"
    scratch.write_text(json.dumps(record))
    scratch.replace(directory / OWNER_FILE)
