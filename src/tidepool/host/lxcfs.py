"""Where this host's incusd looks for lxcfs, and whether lxcfs serves there.

lxcfs gives each container its own ``/proc/meminfo``, ``/proc/cpuinfo`` and ``uptime``, under
its limits; without it ``free`` in a 1 GiB workspace shows the host's 24 GiB, and every tool
that sizes itself from that (Node, the JVM, build tools) meets the OOM killer instead. incusd
bind-mounts lxcfs's files into a container only when they are at the path its packaging
expects. Debian's pairs its ``incus`` with its ``lxcfs`` unit's mount point, so that is read
from the unit rather than assumed; Tidepool once mounted lxcfs at another packaging's path
(``/var/lib/incus-lxcfs``), where no container ever got it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

#: Debian's (and upstream's) mount point, used when the unit cannot be read.
DEFAULT_MOUNT = Path("/var/lib/lxcfs")
#: Where the ``lxcfs`` package's service says it mounts.
UNIT = Path("/lib/systemd/system/lxcfs.service")
#: Where an earlier Tidepool mounted it: an lxcfs there is moved.
EARLIER_MOUNT = Path("/var/lib/incus-lxcfs")


def expected_mount(unit: Path = UNIT) -> Path:
    """The mount point the host's ``lxcfs`` package runs lxcfs at (its unit's ``ExecStart``
    names it last), which is where the same distribution's incusd looks."""
    try:
        lines = unit.read_text().splitlines()
    except OSError:
        return DEFAULT_MOUNT
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "ExecStart" and value.strip():
            words = shlex.split(value)
            if len(words) >= 2 and words[-1].startswith("/"):
                return Path(words[-1])
    return DEFAULT_MOUNT


def mount_points(proc_mounts: Path = Path("/proc/mounts")) -> list[Path]:
    """Where lxcfs is mounted now (every ``fuse.lxcfs`` entry)."""
    try:
        lines = proc_mounts.read_text().splitlines()
    except OSError:
        return []
    return [
        Path(fields[1])
        for fields in (line.split() for line in lines)
        if len(fields) > 2 and fields[2] == "fuse.lxcfs"
    ]


def serves(path: Path) -> bool:
    """True when lxcfs answers at ``path``: its ``/proc/meminfo`` reads as a meminfo."""
    try:
        return b"MemTotal" in (path / "proc" / "meminfo").read_bytes()
    except OSError:
        return False
