"""Moving an existing workspace's home onto its own volume, one idempotent step at a time.

Issue 29 groundwork (pure; nothing runs it yet). A workspace made before home volumes keeps
``/home/dev`` in its root filesystem. Its migration is planned from what is true now, never
from a record of what was done, so a SIGKILL between any two steps leaves facts the next run
reads and goes on from:

1. ``MAKE_VOLUME``: the workspace's empty home volume, recording its owner;
2. ``START``: the instance running as it is (the copy reads its files from inside);
3. ``COPY``: the volume mounted beside home (``/mnt/tidepool-home``), ``/home/dev`` copied in
   (``cp -a``: owners, modes, times, links), synced, then a marker written in the volume,
   last: a copy cut short has no marker and is done again over itself;
4. ``STOP``: the instance stopped, for the swap;
5. ``ATTACH``: the volume mounted at ``/home/dev`` in place of the copy's mount.

The root filesystem's old ``/home/dev`` is left where it was, under the mount: nothing of
the user's is deleted by a migration, and a rollback is removing one device.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Where the volume is mounted while home is copied into it, and the marker of a whole copy.
COPY_PATH = "/mnt/tidepool-home"
COPIED_MARKER = ".tidepool/home-copied"


class Step(enum.StrEnum):
    MAKE_VOLUME = "make_volume"
    START = "start"
    COPY = "copy"
    STOP = "stop"
    ATTACH = "attach"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Facts:
    """What is true of one workspace now."""

    volume_exists: bool
    #: The volume is mounted at ``/home/dev``: migrated (or made with a volume).
    attached: bool
    #: The volume holds the marker of a whole copy.
    copied: bool
    running: bool


def next_step(facts: Facts) -> Step:
    """The one step to take next (``DONE``: none)."""
    if facts.attached:
        return Step.DONE
    if not facts.volume_exists:
        return Step.MAKE_VOLUME
    if not facts.copied:
        return Step.COPY if facts.running else Step.START
    return Step.STOP if facts.running else Step.ATTACH
