"""Another local account against the workspaces themselves, played for real as ``nobody``.

code-server runs with ``--auth none`` and the forwarded ports answer whoever connects: only
Caddy, which checked the sign-in, may. So a process on the host that is not root (a CI
runner, a compromised service) must not connect to a workspace at all: not to the IDE, not
to its terminal's WebSocket, not to a forwarded port, by the workspace's IPv4 address or its
IPv6 link-local one. Caddy, as root, still opens the IDE for the signed-in owner.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from security.test_workspace_origins import WORKBENCH, hops, origin, sign_in, signed_in_serve
from support.browserlike import browserlike_client
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
#: The IDE, the forwarded ports, and one port nobody serves (a refusal there is the kernel's).
PORTS = (8080, 8081, 8082, 8083, 8084, 8085, 22)

#: Connect to each address and port; a connection that opens also tries the terminal's
#: WebSocket upgrade and the workbench page, and says what came back.
ATTEMPT = r"""
import socket, sys
for target in sys.argv[1:]:
    address, port = target.rsplit(" ", 1)
    try:
        s = socket.create_connection((address, int(port)), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket"
                  b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n\r\n")
        print("ANSWERED", target, s.recv(100)[:40])
    except OSError as error:
        print("REFUSED", target, type(error).__name__)
"""


def instance_addresses(ipv4: str) -> list[str]:
    """Every address of the instance at ``ipv4`` on Tidepool's bridge (link-local too)."""
    bridge = get_settings().bridge_name
    for instance in json.loads(subprocess.check_output(["incus", "list", "--format", "json"])):
        network = (instance.get("state") or {}).get("network") or {}
        found = [
            a["address"]
            for name, nic in network.items()
            if name != "lo"
            for a in nic.get("addresses", [])
        ]
        if ipv4 in found:
            return [f"{a}%{bridge}" if a.startswith("fe80:") else a for a in found]
    raise AssertionError(f"no instance has {ipv4}")


def attempt(targets: list[str], *, nobody: bool) -> list[str]:
    """``ATTEMPT`` at each target, as ``nobody`` or as root; one line of outcome each."""
    account = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    done = subprocess.run(
        [*(account if nobody else []), SYSTEM_PYTHON, "-c", ATTEMPT, *targets],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


async def test_a_local_account_reaches_no_workspace_and_caddy_still_does(tmp_path: Path) -> None:
    async with signed_in_serve(tmp_path) as serve:
        async with serve.api() as api:
            ipv4 = (await api.get("bobs"))["address"]
        addresses = instance_addresses(ipv4)
        assert any(a.startswith("fe80:") for a in addresses), addresses
        targets = [f"{address} {port}" for address in addresses for port in PORTS]

        said = await asyncio.to_thread(attempt, targets, nobody=True)
        assert len(said) == len(targets), said
        answered = [line for line in said if not line.startswith("REFUSED")]
        assert not answered, answered

        # Root on the host (Caddy's account) still connects: the refusal is the account's.
        root = await asyncio.to_thread(attempt, [f"{ipv4} 8080"], nobody=False)
        assert root[0].startswith("ANSWERED"), root

        # Through the front door the same account gets the sign-in page, never the IDE...
        async with browserlike_client() as stranger:
            way = await hops(stranger, f"{origin(serve, 'bobs')}/")
            assert way[-1].url.path == "/app/login/" and WORKBENCH not in way[-1].text
        # ...and bob, signed in, his IDE, by way of Caddy.
        async with browserlike_client() as bob:
            await sign_in(serve, bob, "bob")
            way = await hops(bob, f"{origin(serve, 'bobs')}/")
            assert way[-1].status_code == 200 and WORKBENCH in way[-1].text
