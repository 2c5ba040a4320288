"""Bring up the vertical slice for a test: Tidepool's Caddy on :8080 and a running workspace.

The same steps as the seed's by-hand commands (``vm start``, ``route add``), through the
application ``bootstrap.build`` wires from the host's real settings: the workspace is an
ordinary record of the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from support.cli import tidepool
from tidepool import bootstrap
from tidepool.domain.names import InstanceName, validate_workspace_name
from tidepool.errors import NotFoundError
from tidepool.ports import RouteTable, Runtime
from tidepool.settings import Settings


@dataclass
class Workspace:
    name: str
    #: The machine behind it, named by the one rule (not after the workspace).
    instance: InstanceName
    address: str
    url: str
    runtime: Runtime
    routes: RouteTable
    settings: Settings


async def ensure_caddy() -> bool:
    """Tidepool's Caddy (the host's settings), started if it was not running; True if this
    call started it (so the caller stops it again).

    Started by ``tidepool caddy bootstrap`` in a process of its own, as a user does: Caddy
    outlives whoever starts it, and in this process its handle would be collected while it
    still runs (a ResourceWarning, an error in this suite)."""
    result = await asyncio.to_thread(tidepool, "caddy", "bootstrap")
    assert result.returncode == 0, result.stdout + result.stderr
    return "Caddy started" in result.stdout


async def stop_caddy() -> None:
    result = await asyncio.to_thread(tidepool, "caddy", "stop")
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.asynccontextmanager
async def running_workspace(settings: Settings, name: str) -> AsyncIterator[Workspace]:
    """A routed workspace with a healthy IDE; deleted afterwards if this call created it."""
    started_caddy = await ensure_caddy()
    workspace_name = validate_workspace_name(name)
    async with bootstrap.build(settings) as app:
        try:
            await app.store.get(workspace_name)
            created = False
        except NotFoundError:
            created = True
        booted = await app.by_hand.start(workspace_name)
        assert booted.address, booted
        await app.by_hand.route(workspace_name, booted.address)
        try:
            yield Workspace(
                name,
                await app.by_hand.instance_of(workspace_name),
                booted.address,
                settings.workspace_url(name),
                app.runtime,
                app.routes,
                settings,
            )
        finally:
            if created:
                await app.by_hand.delete(workspace_name)
            if started_caddy:  # leave the machine as the test found it
                await stop_caddy()
