"""Incus's network, storage pool and profile for workspaces, created through the REST API.

Equivalent to ``incus admin init --preseed`` but idempotent and explicit: the bridge's subnet
is always the configured one (never auto-detected: detection probes random private ranges),
and nothing outside Tidepool's own network, pool and profile is touched.
"""

from __future__ import annotations

from typing import Any

from tidepool.adapters.incus.client import IncusClient
from tidepool.errors import NotFoundError, RuntimeOperationError
from tidepool.host.steps import StepResult
from tidepool.settings import Settings


async def ensure_network(client: IncusClient, settings: Settings) -> StepResult:
    """A NAT bridge on ``settings.bridge_address``, with DHCP and no IPv6."""
    wanted = {
        "ipv4.address": settings.bridge_address,
        "ipv4.nat": "true",
        "ipv4.dhcp": "true",
        "ipv6.address": "none",
    }
    step = f"network {settings.bridge_name}"
    try:
        network = await client.sync("GET", f"/1.0/networks/{settings.bridge_name}")
    except NotFoundError:
        await client.sync(
            "POST",
            "/1.0/networks",
            json={"name": settings.bridge_name, "type": "bridge", "config": wanted},
        )
        return StepResult(step, True, f"created on {settings.bridge_address}")
    drift = {k: v for k, v in wanted.items() if network["config"].get(k) != v}
    if not drift:
        return StepResult(step, False, f"exists on {settings.bridge_address}")
    await client.sync("PATCH", f"/1.0/networks/{settings.bridge_name}", json={"config": drift})
    return StepResult(step, True, "updated " + ", ".join(sorted(drift)))


async def ensure_storage_pool(client: IncusClient, settings: Settings) -> StepResult:
    """A btrfs pool on a loop file (fast clones), falling back to ``dir`` if btrfs fails."""
    step = f"storage pool {settings.storage_pool}"
    try:
        pool = await client.sync("GET", f"/1.0/storage-pools/{settings.storage_pool}")
        return StepResult(step, False, f"exists ({pool['driver']})")
    except NotFoundError:
        pass
    if settings.storage_driver == "btrfs":
        try:
            await client.sync(
                "POST",
                "/1.0/storage-pools",
                json={
                    "name": settings.storage_pool,
                    "driver": "btrfs",
                    "config": {"size": f"{settings.storage_size_gib}GiB"},
                },
                timeout=300,
            )
            return StepResult(step, True, f"created (btrfs, {settings.storage_size_gib} GiB)")
        except RuntimeOperationError as error:
            fallback_reason = f"btrfs failed ({error}); "
    else:
        fallback_reason = ""
    await client.sync(
        "POST", "/1.0/storage-pools", json={"name": settings.storage_pool, "driver": "dir"}
    )
    return StepResult(step, True, f"{fallback_reason}created (dir)")


def profile_body(settings: Settings) -> dict[str, Any]:
    """The workspaces' profile: one isolated NIC on the bridge and a root disk on the pool.
    On a cluster with routed bridges (``cluster_bridge``), the NIC joins that bridge on
    whichever member the workspace lives (docs/scale-out.md)."""
    bridge: dict[str, str] = (
        {"nictype": "bridged", "parent": settings.cluster_bridge}
        if settings.cluster_bridge
        else {"network": settings.bridge_name}
    )
    return {
        "description": "Tidepool workspaces",
        "config": {},
        "devices": {
            # Port isolation: a workspace cannot talk to another workspace on the bridge, so
            # code-server's --auth none is reachable from the host (Caddy) only.
            "eth0": {
                "type": "nic",
                "name": "eth0",
                **bridge,
                "security.port_isolation": "true",
            },
            "root": {"type": "disk", "path": "/", "pool": settings.storage_pool},
        },
    }


async def ensure_profile(client: IncusClient, settings: Settings) -> StepResult:
    name = settings.incus_profile
    wanted = profile_body(settings)
    step = f"profile {name}"
    try:
        profile = await client.sync("GET", f"/1.0/profiles/{name}")
    except NotFoundError:
        await client.sync("POST", "/1.0/profiles", json={"name": name, **wanted})
        return StepResult(step, True, "created")
    if profile.get("devices") == wanted["devices"] and profile.get("config") == wanted["config"]:
        return StepResult(step, False, "up to date")
    await client.sync("PUT", f"/1.0/profiles/{name}", json=wanted)
    return StepResult(step, True, "updated")


async def ensure_server_config(client: IncusClient) -> StepResult:
    """Turn off image auto-updates: Tidepool's images are local and have no upstream."""
    server = await client.sync("GET", "/1.0")
    if server["config"].get("images.auto_update_interval") == "0":
        return StepResult("incus server config", False, "image auto-update off")
    await client.sync("PATCH", "/1.0", json={"config": {"images.auto_update_interval": "0"}})
    return StepResult("incus server config", True, "turned image auto-update off")
