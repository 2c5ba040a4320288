"""``tidepool host init``: take a Linux host from nothing to ready for workspaces.

Every step checks what is there and does only what is missing, so a second run changes
nothing and says so.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator

from tidepool.adapters.incus.client import IncusClient
from tidepool.errors import HostSetupError
from tidepool.host import apt, btrfs_quota, daemons, firewall, incus_preseed, sysctl
from tidepool.host.steps import StepResult
from tidepool.settings import Settings

INCUS_PACKAGES = ("incus", "dnsmasq-base", "lxcfs", "nftables")


def check_host() -> None:
    """Refuse early, with a clear message, on a host where setup cannot work."""
    if platform.system() != "Linux":
        raise HostSetupError(
            f"`tidepool host init` prepares Linux hosts for Incus; this is {platform.system()}. "
            "On macOS use the Tart runtime (see docs/macos.md)."
        )
    if os.geteuid() != 0:
        raise HostSetupError(
            "`tidepool host init` installs packages and starts daemons: run it as root."
        )
    if not os.path.exists("/usr/bin/apt-get"):
        raise HostSetupError(
            "Only Debian-family hosts (apt) are supported by `tidepool host init`."
        )


def system_steps(settings: Settings) -> Iterator[Callable[[], StepResult]]:
    """The steps that install packages, start daemons and raise limits, in order."""
    _distro, codename = apt.os_codename()
    target = None
    if apt.missing_packages(["incus"]) and codename == "bookworm":
        yield lambda: apt.ensure_backports(codename)
        target = f"{codename}-backports"
    yield lambda: apt.ensure_packages(INCUS_PACKAGES, target_release=target, step="incus packages")
    if settings.storage_driver == "btrfs":
        yield lambda: apt.ensure_packages(["btrfs-progs"], step="btrfs-progs")
    yield sysctl.ensure_limits
    yield daemons.ensure_lxcfs
    yield lambda: daemons.ensure_incusd(settings.incus_socket)


def firewall_step(settings: Settings) -> StepResult:
    """After the bridge exists: the host answers workspaces' DNS and DHCP, nothing else, and
    workspaces reach the internet but not private ranges or the host's LAN (but
    ``egress_allow``)."""
    return firewall.ensure_firewall(settings.bridge_name, allow=settings.egress_allow)


def quota_step(settings: Settings) -> StepResult:
    """After the pool is mounted: its quotas keep counting, so workspaces' disk sizes hold
    (``host.btrfs_quota``)."""
    mount = btrfs_quota.pool_mount(settings.incus_socket, settings.storage_pool)
    return btrfs_quota.ensure_quota_accounting(mount)


async def preseed(settings: Settings, client: IncusClient) -> list[StepResult]:
    """Create (or check) Tidepool's Incus network, storage pool and profile, through
    ``client`` (``bootstrap.incus_client``), which is closed at the end."""
    try:
        return [
            await incus_preseed.ensure_server_config(client),
            await incus_preseed.ensure_network(client, settings),
            await incus_preseed.ensure_storage_pool(client, settings),
            await incus_preseed.ensure_profile(client, settings),
        ]
    finally:
        await client.aclose()
