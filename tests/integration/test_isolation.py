"""Nothing but Caddy reaches a workspace's code-server, and workspaces cannot reach the host.

code-server runs with --auth none; this is what makes that safe. Every connection here goes
only to the instances this test creates and to the bridge's own address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from support.instances import launch
from tidepool import bootstrap
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime
from tidepool.services.ide import wait_for_ide
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[tuple[Runtime, dict[str, str]]]:
    settings = get_settings()
    names = [f"tp-iso-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    async with bootstrap.opened_runtime(settings) as runtime:
        try:
            addresses = {}
            async with httpx.AsyncClient() as http:
                for name in names:
                    address = await launch(runtime, name, settings)
                    await wait_for_ide(http, address, timeout=120)
                    addresses[name] = address
            yield runtime, addresses
        finally:
            for name in names:
                with contextlib.suppress(NotFoundError):
                    await runtime.delete(name)


def bridge_ip() -> str:
    return str(ipaddress.IPv4Interface(get_settings().bridge_address).ip)


async def reach(runtime: Runtime, source: str, host: str, port: int) -> bool:
    """Can ``source`` open a TCP connection to host:port (3 s at most)?"""
    result = await runtime.exec(
        source,
        ["timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"],
        timeout=20,
    )
    return result.ok


async def test_the_host_reaches_each_ide(pair: tuple[Runtime, dict[str, str]]) -> None:
    _, addresses = pair
    async with httpx.AsyncClient() as http:
        for address in addresses.values():
            assert (await http.get(f"http://{address}:8080/healthz")).status_code == 200


async def test_a_workspace_cannot_reach_another_workspaces_ide(
    pair: tuple[Runtime, dict[str, str]],
) -> None:
    runtime, addresses = pair
    (a, a_ip), (b, b_ip) = addresses.items()
    assert await reach(runtime, a, "127.0.0.1", 8080), "control: its own IDE answers"
    assert not await reach(runtime, a, b_ip, 8080)
    assert not await reach(runtime, b, a_ip, 8080)


@pytest.mark.parametrize(
    ("port", "what"),
    [
        (8080, "Caddy"),
        (2019, "Caddy's default admin port"),
        (5432, "PostgreSQL"),
        (22, "ssh"),
        (8000, "an API port"),
    ],
)
async def test_a_workspace_cannot_reach_the_host(
    pair: tuple[Runtime, dict[str, str]], port: int, what: str
) -> None:
    runtime, addresses = pair
    source = next(iter(addresses))
    assert not await reach(runtime, source, bridge_ip(), port), f"{what} on the host answered"


def test_the_admin_api_and_control_plane_listen_on_unix_sockets_only() -> None:
    settings = get_settings()
    options = bootstrap.caddy_options(settings)
    assert str(options.admin_socket).startswith(str(settings.data_dir))
    assert options.api_socket == settings.api_socket
