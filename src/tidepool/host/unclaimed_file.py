"""``DATA_DIR/unclaimed-instances.json``: the instances ``serve`` found and left alone.

A resync never deletes an instance this database does not know, or that another installation
made (``tidepool.domain.ownership``); it leaves it running and reports it here, where
``tidepool service status`` reads it (another process, no credentials needed). Each change of
the set is also a warning in the log, so a database switched under a host full of workspaces
says so at the first resync after ``serve`` starts, not never. Replaced atomically, 0600.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from tidepool.domain.ownership import InstanceOwner, Unclaimed, Verdict

FILE_NAME = "unclaimed-instances.json"

log = logging.getLogger(__name__)


class UnclaimedFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: tuple[Unclaimed, ...] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> UnclaimedFile:
        return cls(data_dir / FILE_NAME)

    def publish(self, unclaimed: Sequence[Unclaimed]) -> None:
        """Record ``unclaimed`` (and warn) when it differs from what was published last."""
        current = tuple(sorted(unclaimed, key=lambda u: u.instance))
        if current == self._last:
            return
        self._last = current
        if current:
            log.warning(
                "%d instance(s) are not workspaces of this database; Tidepool leaves them "
                "running and never deletes them (`tidepool service status` lists them; "
                "`tidepool workspace adopt INSTANCE` makes one a workspace again): %s",
                len(current),
                "; ".join(f"{u.instance}: {u.reason}" for u in current),
            )
        body = [
            {
                "instance": u.instance,
                "verdict": u.verdict.value,
                "reason": u.reason,
                "installation": u.owner.installation if u.owner else None,
                "workspace_id": u.owner.workspace_id if u.owner else None,
            }
            for u in current
        ]
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.unlink(missing_ok=True)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out)
        partial.replace(self.path)

    def read(self) -> list[Unclaimed]:
        """What was published last; empty when nothing was (or the file is unreadable)."""
        try:
            body = json.loads(self.path.read_text())
            return [_unclaimed(item) for item in body]
        except (OSError, ValueError, TypeError, KeyError):
            return []


def _unclaimed(item: dict[str, object]) -> Unclaimed:
    installation, workspace_id = item.get("installation"), item.get("workspace_id")
    owner = (
        InstanceOwner(str(installation), str(workspace_id))
        if installation and workspace_id
        else None
    )
    return Unclaimed(
        instance=str(item["instance"]),
        verdict=Verdict(str(item["verdict"])),
        reason=str(item["reason"]),
        owner=owner,
    )
