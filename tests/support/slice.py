"""Bring up the vertical slice for a test: Tidepool's Caddy on :8080 and a running workspace.

The same steps as ``scripts/up``, through the Python API, with the host's real settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from tidepool import bootstrap
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config, wait_until_serving
from tidepool.errors import NotFoundError
from tidepool.ports import RouteTable, Runtime
from tidepool.services.ide import wait_for_ide
from tidepool.services.instances import start_instance
from tidepool.settings import Settings


@dataclass
class Workspace:
    name: str
    address: str
    url: str
    runtime: Runtime
    routes: RouteTable
    settings: Settings


async def ensure_caddy(settings: Settings) -> CaddyProcess | None:
    """Tidepool's Caddy, started if it was not running; the process if this call started it."""
    process = bootstrap.caddy_process(settings)
    started = process.start()
    admin = bootstrap.caddy_admin(settings)
    try:
        await wait_until_serving(admin)
        await ensure_base_config(admin, bootstrap.caddy_options(settings))
    finally:
        await admin.aclose()
    return process if started else None


@contextlib.asynccontextmanager
async def running_workspace(settings: Settings, name: str) -> AsyncIterator[Workspace]:
    """A routed workspace with a healthy IDE; deleted afterwards if this call created it."""
    caddy = await ensure_caddy(settings)
    runtime = bootstrap.build_runtime(settings)
    routes = bootstrap.build_route_table(settings)
    started = await start_instance(runtime, name, bootstrap.instance_defaults(settings))
    async with httpx.AsyncClient() as http:
        await wait_for_ide(http, started.address, timeout=120)
    await routes.add(name, started.address)
    try:
        yield Workspace(
            name, started.address, settings.workspace_url(name), runtime, routes, settings
        )
    finally:
        if started.created:
            with contextlib.suppress(NotFoundError):
                await routes.remove(name)
            await runtime.delete(name)
        await routes.aclose()
        await runtime.aclose()
        if caddy is not None:  # leave the machine as the test found it
            caddy.stop()
