"""Where lxcfs must be mounted is read from the host's ``lxcfs`` unit, and what is mounted
from ``/proc/mounts`` (``tidepool.host.lxcfs``)."""

from __future__ import annotations

from pathlib import Path

from tidepool.host import lxcfs


def test_the_mount_point_is_the_units_own(tmp_path: Path) -> None:
    unit = tmp_path / "lxcfs.service"
    unit.write_text("[Service]\nExecStartPre=/bin/mkdir -p /x\nExecStart=/usr/bin/lxcfs /srv/fs\n")
    assert lxcfs.expected_mount(unit) == Path("/srv/fs")
    unit.write_text("[Service]\nExecStart=/usr/bin/lxcfs\n")
    assert lxcfs.expected_mount(unit) == lxcfs.DEFAULT_MOUNT
    assert lxcfs.expected_mount(tmp_path / "missing") == Path("/var/lib/lxcfs")


def test_only_lxcfs_mounts_are_found_and_a_dead_path_serves_nothing(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "proc /proc proc rw 0 0\n"
        "lxcfs /var/lib/incus-lxcfs fuse.lxcfs rw,allow_other 0 0\n"
        "tmpfs /run tmpfs rw 0 0\n"
    )
    assert lxcfs.mount_points(mounts) == [lxcfs.EARLIER_MOUNT]
    assert not lxcfs.serves(tmp_path)
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 1048576 kB\n")
    assert lxcfs.serves(tmp_path)
