"""A Caddy started for one test session."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from support.ports import free_port
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions, base_config
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable


@dataclass
class RunningCaddy:
    process: CaddyProcess
    options: CaddyOptions
    base_url: str
    upstream_port: int


@contextlib.asynccontextmanager
async def private_caddy(
    directory: Path, upstream_port: int | None = None
) -> AsyncIterator[tuple[RunningCaddy, CaddyRouteTable]]:
    """A Caddy of its own on a free loopback port, with its route table, stopped after."""
    port = free_port()
    options = CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{port}",
        workspace_port=upstream_port or free_port(),
    )
    process = CaddyProcess(options, directory)
    process.start()
    admin = CaddyAdmin.over_unix_socket(options.admin_socket)
    try:
        await wait_until_serving(admin)
        await ensure_base_config(admin, options)
        yield (
            RunningCaddy(process, options, f"http://127.0.0.1:{port}", options.workspace_port),
            CaddyRouteTable(options.routes_dir),
        )
    finally:
        await admin.aclose()
        process.stop()


@contextlib.asynccontextmanager
async def configured_caddy(
    directory: Path,
    options: CaddyOptions,
    routes: dict[str, str],
    owners: dict[str, str] | None = None,
) -> AsyncIterator[CaddyAdmin]:
    """A Caddy of its own running Tidepool's config for ``options`` with these routes."""
    table = CaddyRouteTable(options.routes_dir)
    for name, address in routes.items():
        await table.add(name, address, (owners or {}).get(name, ""))
    process = CaddyProcess(options, directory)
    process.start()
    admin = CaddyAdmin.over_unix_socket(options.admin_socket)
    try:
        await wait_until_serving(admin)
        await admin.load(base_config(options))
        yield admin
    finally:
        await admin.aclose()
        process.stop()
