"""What ``tidepool serve`` brings back on a Linux host before it starts anything.

After a reboot or a killed host, lxcfs and incusd are gone and so is the firewall (nftables
keeps nothing across a reboot). A workspace started without the firewall could reach the
host's LAN and the cloud's metadata address, so the platform's start is where it is put
back, whatever started ``serve`` (``tidepool service start``, a service manager, a shell):
no operator has to remember ``tidepool host init`` first. Only the quick steps run here (no
package installs): each checks what is there and changes only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform

from tidepool.adapters.incus.client import IncusClient
from tidepool.errors import TidepoolError
from tidepool.host import daemons, init
from tidepool.host.steps import StepResult
from tidepool.settings import Settings

log = logging.getLogger(__name__)


def applies(settings: Settings) -> bool:
    """Only an Incus host served by root can have its daemons and firewall put back."""
    return settings.runtime == "incus" and platform.system() == "Linux" and os.geteuid() == 0


async def bring_back(settings: Settings, client: IncusClient) -> list[StepResult]:
    """lxcfs, incusd, Tidepool's network, pool and profile, the pool's quotas, then the
    firewall; ``client`` is closed at the end. Returns every step, changed or not.

    A daemon that will not start is logged and left to the worker, which waits for the
    runtime as long as it takes; a firewall that cannot be put in place stops the start
    (``HostSetupError``): workspaces never run without it.
    """
    results: list[StepResult] = []
    try:
        results.append(await asyncio.to_thread(daemons.ensure_lxcfs))
        results.append(await asyncio.to_thread(daemons.ensure_incusd, settings.incus_socket))
        results.extend(await init.preseed(settings, client))
    except TidepoolError as error:
        log.error("host: could not bring the runtime back (%s); workspaces wait for it", error)
    finally:
        await client.aclose()
    try:
        results.append(await asyncio.to_thread(init.quota_step, settings))
    except TidepoolError as error:
        log.error("host: workspace disk quotas may not hold (%s)", error)
    results.append(await asyncio.to_thread(init.firewall_step, settings))
    for result in results:
        if result.changed:
            log.warning("host: %s: %s (it was not in place)", result.name, result.detail)
    return results


async def keep_quotas(settings: Settings) -> bool:
    """Keep the pool's quotas counting while serve runs (incusd mounting the pool again
    sets btrfs's default back); True if they were not."""
    result = await asyncio.to_thread(init.quota_step, settings)
    if result.changed:
        log.warning("host: workspace disk quotas had stopped holding; %s", result.detail)
    return result.changed


async def keep_firewall(settings: Settings) -> bool:
    """Put the firewall back if something removed it while serve ran (``nft flush
    ruleset``); True if it had to."""
    result = await asyncio.to_thread(init.firewall_step, settings)
    if result.changed:
        log.warning("host: the workspace firewall was gone; %s", result.detail)
    return result.changed
