"""One world: what the seed's by-hand commands make, the platform lists, routes and keeps.

Each test has its own data directory, port, SQLite database and instance prefix, and runs
the commands as a user does (separate processes), against the host's real incusd and a real
Caddy. ``tidepool serve`` resyncs every 2 s here, so "never unrouted" is watched across
several resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.browserlike import browserlike_client
from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess
from tidepool.adapters.caddy.config import base_config
from tidepool.bootstrap import caddy_options
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpw"
#: Long enough for the platform to have resynced (every 2 s here) twice.
WATCH_SECONDS = 5.0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[ServeProcess]:
    """A platform not started yet, and everything it or a command made removed afterwards."""
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    try:
        yield serve
    finally:
        if serve.process is not None and serve.process.poll() is None:
            serve.stop()
        env = serve.env()
        for name in ("byhand", "later"):
            tidepool("down", "-n", name, env=env)
        tidepool("caddy", "stop", env=env)


def ok(env: dict[str, str], *argv: str) -> str:
    result = tidepool(*argv, env=env)
    assert result.returncode == 0, f"tidepool {' '.join(argv)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def listed(env: dict[str, str]) -> dict[str, str]:
    """``tidepool workspace list``: name -> status."""
    page = json.loads(ok(env, "workspace", "list", "--json"))
    return {item["name"]: item["status"] for item in page["items"]}


async def routed_throughout(serve: ServeProcess, name: str, address: str) -> None:
    """The route stays, to the same address, while the platform resyncs a few times."""
    table = serve.route_table()
    deadline = asyncio.get_running_loop().time() + WATCH_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        assert (await table.list()).get(name) == address, f"{name} was unrouted"
        await asyncio.sleep(0.1)


async def test_a_workspace_made_by_hand_is_the_platforms_and_survives_its_restarts(
    platform: ServeProcess,
) -> None:
    env = platform.env()
    ok(env, "caddy", "bootstrap")
    address = ok(env, "vm", "start", "-n", "byhand").splitlines()[-1]
    ok(env, "vm", "setup", "-n", "byhand")
    ok(env, "route", "add", "-n", "byhand", "-i", address)
    assert await platform.ide_status("byhand") == 200

    platform.start()
    await routed_throughout(platform, "byhand", address)
    assert await platform.ide_status("byhand") == 200
    assert listed(env) == {"byhand": "running"}

    assert platform.stop() == 0
    platform.start()
    await routed_throughout(platform, "byhand", address)
    assert await platform.ide_status("byhand") == 200
    assert listed(env) == {"byhand": "running"}


async def test_vm_start_and_route_add_while_the_platform_runs(platform: ServeProcess) -> None:
    platform.start()
    env = platform.env()
    address = ok(env, "vm", "start", "-n", "later").splitlines()[-1]
    ok(env, "route", "add", "-n", "later", "-i", address)
    assert listed(env) == {"later": "running"}
    await routed_throughout(platform, "later", address)
    assert await platform.ide_status("later") == 200

    # Any address but the instance's own (DHCP may well have given it .254).
    other = "10.213.77.254" if address != "10.213.77.254" else "10.213.77.253"
    wrong = tidepool("route", "add", "-n", "later", "-i", other, env=env)
    assert wrong.returncode == 1 and address in wrong.stderr + wrong.stdout
    assert (await platform.route_table().list())["later"] == address, "refused: nothing changed"

    ok(env, "route", "remove", "-n", "later")
    assert listed(env) == {"later": "stopped"}
    await asyncio.sleep(WATCH_SECONDS)  # the platform does not route it back either
    assert "later" not in await platform.route_table().list()
    assert ok(env, "down", "-n", "later").strip() == "Instance deleted."
    assert listed(env) == {}


async def test_whatever_starts_caddy_applies_todays_settings(platform: ServeProcess) -> None:
    """forward_auth once, then the default again: Caddy must not resume the old config."""
    signed_in = {**platform.env(), "TIDEPOOL_AUTH": "forward_auth"}
    ok(signed_in, "caddy", "bootstrap")
    ok(signed_in, "caddy", "stop")
    env = platform.env()
    ok(env, "caddy", "bootstrap")
    admin = httpx.AsyncHTTPTransport(uds=str(platform.caddy_admin_socket))
    async with httpx.AsyncClient(transport=admin, base_url="http://caddy") as http:
        running = (await http.get("/config/")).json()
    settings = Settings(**_settings_from(env))  # type: ignore[arg-type]
    assert running == base_config(caddy_options(settings))
    async with browserlike_client() as http:
        answer = await http.get(f"{platform.base_url}/workspace/nobody/", follow_redirects=True)
    assert answer.url.host == "nobody.localhost", "the path URL leads to the workspace's origin"
    assert answer.status_code == 404, "no sign-in in front, and no 502 from a stopped API"


def _settings_from(env: dict[str, str]) -> dict[str, str]:
    prefix = "TIDEPOOL_"
    return {
        key[len(prefix) :].lower(): value
        for key, value in env.items()
        if key.startswith(prefix) and key not in ("TIDEPOOL_TEST_POSTGRES_URL", "TIDEPOOL_CONFIG")
    }


def test_the_service_runs_in_the_background_and_tells_the_truth(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    env = serve.env()
    try:
        started = ok(env, "service", "start")
        assert "/app/" in started
        status = tidepool("service", "status", env=env)
        assert status.returncode == 0 and "is running (pid" in status.stdout, status.stdout
        pid = int(status.stdout.split("pid ")[1].split(")")[0])
        assert "already running" in ok(env, "service", "start")
        app = httpx.get(f"{serve.base_url}/app/", timeout=10)
        assert app.status_code == 200
        caddy_pid = int((serve.data_dir / "caddy" / "caddy.pid").read_text())

        assert ok(env, "service", "stop").strip() == "Tidepool stopped."
        assert not _alive(pid) and not _alive(caddy_pid), "stopping stops what it started"
        stopped = tidepool("service", "status", env=env)
        assert stopped.returncode == 3 and "not running" in stopped.stdout
        assert "Last error" not in stopped.stdout, "a clean stop is no error"
        assert "tidepool serve: API on" in ok(env, "service", "logs")

        broken = {**env, "TIDEPOOL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        failed = tidepool("service", "start", env=broken, timeout=180)
        assert failed.returncode == 1 and "did not come up" in failed.stderr + failed.stdout
        dead = tidepool("service", "status", env=broken)
        assert dead.returncode == 3 and "Last error:" in dead.stdout, dead.stdout
    finally:
        tidepool("service", "stop", env=env)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False
