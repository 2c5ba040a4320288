"""The pool's btrfs quotas are kept counting (``tidepool.host.btrfs_quota``): the mount's own
sysfs directory is found from ``mountinfo``, a shallow delete threshold is raised, and an
inconsistent count is rescanned, each only when needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidepool.errors import HostSetupError
from tidepool.host import btrfs_quota
from tidepool.host.btrfs_quota import DEEPEST_LEVEL, ensure_quota_accounting

MOUNT = Path("/var/lib/incus/storage-pools/tidepool")
MOUNTINFO = (
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "50 27 0:45 / /var/lib/incus/storage-pools/other rw - btrfs /dev/loop1 rw\n"
    "51 27 0:46 / /var/lib/incus/storage-pools/tidepool rw,relatime shared:3 - btrfs"
    " /dev/loop0 rw,discard=async,subvolid=5,subvol=/\n"
)


def host(tmp_path: Path, *, threshold: str = "3", inconsistent: str = "0") -> Path:
    """A stand-in ``/sys/fs/btrfs`` with two filesystems; the pool's is on loop0."""
    sysfs = tmp_path / "sys"
    for uuid, device in (("aaaa", "loop1"), ("bbbb", "loop0")):
        (sysfs / uuid / "devices").mkdir(parents=True)
        (sysfs / uuid / "devices" / device).write_text("")
        (sysfs / uuid / "qgroups").mkdir()
        (sysfs / uuid / "qgroups" / "drop_subtree_threshold").write_text(f"{threshold}\n")
        (sysfs / uuid / "qgroups" / "inconsistent").write_text(f"{inconsistent}\n")
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    return sysfs


def test_the_pools_own_filesystem_is_found(tmp_path: Path) -> None:
    sysfs = host(tmp_path)
    mountinfo = tmp_path / "mountinfo"
    found = btrfs_quota.qgroups_dir(MOUNT, mountinfo=mountinfo, sysfs=sysfs)
    assert found == sysfs / "bbbb" / "qgroups"
    assert btrfs_quota.qgroups_dir(Path("/srv"), mountinfo=mountinfo, sysfs=sysfs) is None
    assert btrfs_quota.pool_mount(Path("/var/lib/incus/unix.socket"), "tidepool") == MOUNT


def test_a_shallow_threshold_is_raised_and_an_inconsistent_count_rescanned(
    tmp_path: Path,
) -> None:
    sysfs = host(tmp_path, inconsistent="1")
    rescanned: list[Path] = []
    done = ensure_quota_accounting(
        MOUNT, mountinfo=tmp_path / "mountinfo", sysfs=sysfs, rescan=rescanned.append
    )
    assert done.changed and "rescanned" in done.detail, done
    assert rescanned == [MOUNT]
    qgroups = sysfs / "bbbb" / "qgroups"
    assert (qgroups / "drop_subtree_threshold").read_text().strip() == str(DEEPEST_LEVEL)
    # The other filesystem is not the pool's: untouched.
    assert (sysfs / "aaaa" / "qgroups" / "drop_subtree_threshold").read_text().strip() == "3"


def test_a_counting_pool_is_left_as_it_is(tmp_path: Path) -> None:
    sysfs = host(tmp_path, threshold=str(DEEPEST_LEVEL))
    rescanned: list[Path] = []
    done = ensure_quota_accounting(
        MOUNT, mountinfo=tmp_path / "mountinfo", sysfs=sysfs, rescan=rescanned.append
    )
    assert not done.changed and rescanned == [], done


def test_a_rescan_already_running_is_enough_and_other_failures_are_said(tmp_path: Path) -> None:
    sysfs = host(tmp_path, threshold=str(DEEPEST_LEVEL), inconsistent="1")

    def busy(mount: Path) -> None:
        raise HostSetupError("ERROR: quota rescan failed: Operation now in progress")

    done = ensure_quota_accounting(
        MOUNT, mountinfo=tmp_path / "mountinfo", sysfs=sysfs, rescan=busy
    )
    assert done.changed

    def broken(mount: Path) -> None:
        raise HostSetupError("btrfs is not installed.")

    with pytest.raises(HostSetupError, match="not installed"):
        ensure_quota_accounting(MOUNT, mountinfo=tmp_path / "mountinfo", sysfs=sysfs, rescan=broken)


def test_a_setting_it_may_not_write_is_a_host_error(tmp_path: Path) -> None:
    sysfs = host(tmp_path)
    threshold = sysfs / "bbbb" / "qgroups" / "drop_subtree_threshold"
    threshold.unlink()
    threshold.mkdir()  # reading a directory fails as a read-only sysfs file would
    with pytest.raises(HostSetupError, match="could not keep the btrfs quotas"):
        ensure_quota_accounting(MOUNT, mountinfo=tmp_path / "mountinfo", sysfs=sysfs)


def test_no_btrfs_at_the_pool_changes_nothing(tmp_path: Path) -> None:
    sysfs = host(tmp_path)
    done = ensure_quota_accounting(Path("/srv/pool"), mountinfo=tmp_path / "mountinfo", sysfs=sysfs)
    assert not done.changed and "no btrfs" in done.detail
