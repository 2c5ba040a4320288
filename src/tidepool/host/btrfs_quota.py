"""Btrfs quotas that keep counting, so a workspace's disk size holds for as long as the host runs.

Incus holds a workspace's root disk to its size on btrfs with a quota group limit. Linux's
btrfs, when it deletes a subvolume whose tree is at least ``drop_subtree_threshold`` levels
deep (3 by default), does not walk it to count what it frees: it marks the whole
filesystem's quota accounting *inconsistent* and from then on stops counting until a
rescan. Every limit on the pool then stops holding, silently: after a day of creates and
deletes a workspace wrote 5.1 GiB on a 5 GiB disk and filled the pool's other workspaces'
space with it.

So the host raises the threshold to btrfs's deepest tree (deletes always count what they
free) and starts a rescan when the accounting is inconsistent anyway. ``host init`` does it
once, and ``serve`` at its start and every few seconds after (the setting is the mount's own:
incusd mounting the pool again, after a restart or a reboot, sets it back to the default).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tidepool.errors import HostSetupError
from tidepool.host.commands import run
from tidepool.host.steps import StepResult

#: btrfs's BTRFS_MAX_LEVEL: no tree is this deep, so no delete gives up counting.
DEEPEST_LEVEL = 8
MOUNTINFO = Path("/proc/self/mountinfo")
SYSFS = Path("/sys/fs/btrfs")
STEP = "btrfs quota accounting"


def pool_mount(incus_socket: Path, pool: str) -> Path:
    """Where incusd mounts ``pool``: ``storage-pools`` beside its socket."""
    return incus_socket.parent / "storage-pools" / pool


def mounted_device(mount: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """The kernel's name of the device a btrfs filesystem mounted at ``mount`` sits on
    (``loop0``, ``sdb1``, ``dm-3``), or None when no btrfs is mounted there."""
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        if len(fields) < 10 or "-" not in fields:
            continue
        after = fields.index("-")
        if fields[4] == str(mount) and fields[after + 1] == "btrfs":
            return os.path.basename(os.path.realpath(fields[after + 2]))
    return None


def qgroups_dir(mount: Path, *, mountinfo: Path = MOUNTINFO, sysfs: Path = SYSFS) -> Path | None:
    """The sysfs directory of the quota settings of the btrfs mounted at ``mount``: the
    filesystem whose ``devices`` holds that mount's device. None when there is none (not
    btrfs, not mounted, or quotas off)."""
    device = mounted_device(mount, mountinfo)
    if device is None or not sysfs.is_dir():
        return None
    for filesystem in sorted(sysfs.iterdir()):
        if (filesystem / "devices" / device).exists() and (filesystem / "qgroups").is_dir():
            return filesystem / "qgroups"
    return None


def start_rescan(mount: Path) -> None:
    """Ask btrfs to count the pool again, in the background (the kernel's own worker)."""
    run(["btrfs", "quota", "rescan", str(mount)], timeout=60)


def ensure_quota_accounting(
    mount: Path,
    *,
    mountinfo: Path = MOUNTINFO,
    sysfs: Path = SYSFS,
    rescan: Callable[[Path], None] = start_rescan,
) -> StepResult:
    """Deletes count what they free, and an inconsistent count is rescanned. Changes only
    what is not so already; a pool that is not btrfs with quotas is left alone."""
    try:
        return _ensure(mount, mountinfo, sysfs, rescan)
    except OSError as error:
        raise HostSetupError(
            f"could not keep the btrfs quotas at {mount} counting: {error}"
        ) from error


def _ensure(
    mount: Path, mountinfo: Path, sysfs: Path, rescan: Callable[[Path], None]
) -> StepResult:
    qgroups = qgroups_dir(mount, mountinfo=mountinfo, sysfs=sysfs)
    if qgroups is None:
        return StepResult(STEP, False, f"no btrfs with quotas at {mount}")
    changes: list[str] = []
    threshold = qgroups / "drop_subtree_threshold"
    if int(threshold.read_text().strip() or 0) < DEEPEST_LEVEL:
        threshold.write_text(f"{DEEPEST_LEVEL}\n")
        changes.append("deletes count what they free")
    if (qgroups / "inconsistent").read_text().strip() == "1":
        try:
            rescan(mount)
        except HostSetupError as error:
            if "in progress" not in str(error):
                raise
        changes.append("an inconsistent count is being rescanned")
    if not changes:
        return StepResult(STEP, False, "counting")
    return StepResult(STEP, True, "; ".join(changes))
