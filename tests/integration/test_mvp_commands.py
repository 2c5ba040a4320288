"""The seed's by-hand commands, each run as its own process against the real incusd and Caddy.

A fresh workspace goes through the seed's checklist (start a VM, print its IP, set it up, add
and remove a route, verify, clean up), and ``tidepool verify`` must pass while everything is
in place and fail, naming what is missing, once the route or the instance is gone. The
commands act on the control plane's records: ``route remove`` stops the workspace (a route
exists exactly when its workspace runs), ``route add`` brings it back.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest

from support.cli import tidepool
from support.slice import ensure_caddy, stop_caddy
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus


@pytest.fixture
async def name() -> AsyncIterator[str]:
    """A workspace name of its own, with Caddy running; nothing of it is left afterwards."""
    settings = get_settings()
    name = f"mvp-{uuid.uuid4().hex[:8]}"
    started_caddy = await ensure_caddy(settings)
    try:
        yield name
    finally:
        tidepool("down", "-n", name)
        if started_caddy:
            await stop_caddy(settings)


def ok(*argv: str) -> str:
    """The output of a command that must succeed."""
    result = tidepool(*argv)
    assert result.returncode == 0, f"tidepool {' '.join(argv)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def check_rows(output: str) -> dict[str, str]:
    """``tidepool verify``'s table as check name -> PASS or FAIL."""
    rows = {}
    for line in output.splitlines():
        for verdict in ("PASS", "FAIL"):
            if f" {verdict} " in line:
                rows[line.split(verdict)[0].strip(" │┃|")] = verdict
    return rows


CHECKS = {
    "instance running",
    "code-server healthy",
    "route present",
    "workbench through Caddy",
    "WebSocket through the route",
}


async def test_start_setup_route_verify_and_down(name: str) -> None:
    settings = get_settings()
    ok("caddy", "bootstrap")  # already running: says so and changes nothing

    address = ok("vm", "start", "-n", name).splitlines()[-1]
    bridge = ipaddress.ip_interface(settings.bridge_address).network
    assert ipaddress.ip_address(address) in bridge
    ok("vm", "setup", "-n", name)
    assert "Route added" in ok("route", "add", "-n", name, "-i", address)
    assert "nothing changed" in ok("route", "add", "-n", name, "-i", address)
    assert name in ok("route", "list")

    passed = ok("verify", "-n", name)
    assert check_rows(passed) == dict.fromkeys(CHECKS, "PASS"), passed
    assert settings.workspace_url(name) in passed

    assert "stopped, files kept" in ok("route", "remove", "-n", name)
    missing_route = tidepool("verify", "-n", name)
    assert missing_route.returncode == 1
    rows = check_rows(missing_route.stdout)
    assert set(rows.values()) == {"FAIL"}, rows
    again = tidepool("route", "remove", "-n", name)
    assert again.returncode != 0
    assert f"no route for workspace '{name}'" in again.stdout + again.stderr

    assert "Route added" in ok("route", "add", "-n", name, "-i", address)
    assert check_rows(ok("verify", "-n", name)) == dict.fromkeys(CHECKS, "PASS")
    assert ok("down", "-n", name).strip() == "Route removed, instance deleted."
    assert ok("down", "-n", name).strip() == f"Nothing of {name} was left."
    gone = tidepool("verify", "-n", name)
    assert gone.returncode == 1
    assert set(check_rows(gone.stdout).values()) == {"FAIL"}, gone.stdout
    assert name not in ok("route", "list")
