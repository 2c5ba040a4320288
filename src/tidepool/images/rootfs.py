"""A Debian root filesystem made by debootstrap, cached as a tarball keyed by its inputs.

``udev`` is included on purpose: without it systemd-networkd never runs DHCP in the container.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tidepool.errors import ImageBuildError
from tidepool.host import apt
from tidepool.host.commands import run
from tidepool.images.inputs import RootfsInputs


def ensure_rootfs_tarball(
    inputs: RootfsInputs, cache_dir: Path, report: Callable[[str], None]
) -> Path:
    """Return ``rootfs-KEY.tar`` in the cache, running debootstrap first if it is missing."""
    tarball = cache_dir / f"rootfs-{inputs.key()}.tar"
    if tarball.exists():
        return tarball
    apt.ensure_packages(["debootstrap"], step="debootstrap")
    work = cache_dir / f"rootfs-{inputs.key()}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report(f"debootstrap {inputs.suite} from {inputs.mirror} (a few minutes)")
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(inputs.packages)}",
            inputs.suite,
            str(work),
            inputs.mirror,
        ],
        error=ImageBuildError,
        timeout=3600,
    )
    run(["chroot", str(work), "apt-get", "clean"], error=ImageBuildError)
    report("packing the rootfs into the cache")
    partial_tar = tarball.with_suffix(".tar.partial")
    run(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-cf", str(partial_tar), "."],
        error=ImageBuildError,
    )
    partial_tar.rename(tarball)
    shutil.rmtree(work)
    return tarball


def unpack(tarball: Path, destination: Path) -> None:
    destination.mkdir(parents=True)
    run(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(destination), "-xf", str(tarball)],
        error=ImageBuildError,
    )
