"""The seed's by-hand commands, each run as its own process against the real incusd and Caddy.

A fresh workspace goes through the seed's checklist (start a VM, print its IP, set it up, add
and remove a route, verify, clean up), and ``tidepool verify`` must pass while everything is
in place and fail, naming what is missing, once the route or the instance is gone. The
commands act on the control plane's records: ``route remove`` stops the workspace (a route
exists exactly when its workspace runs), ``route add`` brings it back. The platform does not
run here (its own data directory, port and database): the commands do every step themselves;
``test_one_world`` runs them beside a running platform.
"""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]


@dataclass
class Place:
    """A data directory, port and database of their own, and one workspace name in them."""

    name: str
    env: dict[str, str]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return tidepool(*argv, env=self.env)

    def ok(self, *argv: str) -> str:
        """The output of a command that must succeed."""
        result = self.run(*argv)
        assert result.returncode == 0, f"tidepool {' '.join(argv)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Place]:
    """Nothing of the workspace, and no Caddy, is left afterwards."""
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpm")
    place = Place(f"mvp-{uuid.uuid4().hex[:8]}", serve.env())
    try:
        yield place
    finally:
        place.run("down", "-n", place.name)
        place.run("caddy", "stop")


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


async def test_start_setup_route_verify_and_down(place: Place) -> None:
    name, ok, tidepool = place.name, place.ok, place.run
    settings = get_settings()
    assert "Caddy started" in ok("caddy", "bootstrap")
    assert "already running" in ok("caddy", "bootstrap")

    address = ok("vm", "start", "-n", name).splitlines()[-1]
    bridge = ipaddress.ip_interface(settings.bridge_address).network
    assert ipaddress.ip_address(address) in bridge
    ok("vm", "setup", "-n", name)
    assert "Route added" in ok("route", "add", "-n", name, "-i", address)
    assert "nothing changed" in ok("route", "add", "-n", name, "-i", address)
    assert name in ok("route", "list")

    passed = ok("verify", "-n", name)
    assert check_rows(passed) == dict.fromkeys(CHECKS, "PASS"), passed
    port = urlsplit(place.env["TIDEPOOL_PUBLIC_URL"]).port
    assert f"http://{name}.localhost:{port}/" in passed, "checked at the workspace's origin"

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
