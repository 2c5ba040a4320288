"""A killed host: every daemon SIGKILLed, the firewall gone; the platform's start command
(``tidepool service start``) brings everything back.

What a power cut leaves, played on this machine: ``serve`` and its Caddy, the workspaces'
containers (monitor and init), incusd and lxcfs are SIGKILLed, and the nftables tables are
deleted (nftables keeps nothing across a reboot). The platform runs on SQLite here, so no
database daemon is involved (with PostgreSQL, its service manager brings it back and the
worker waits for it). Only this test's own instances are killed: the host's others are not
the test's to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool.bootstrap import build_runtime, incus_client
from tidepool.domain.names import instance_name_for
from tidepool.host import firewall
from tidepool.host.daemons import daemon_pids
from tidepool.processes import is_running
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tph"
KEPT = "/home/dev/kept.bin"
#: From the start command to the IDE answering again (incusd's own start is most of it).
BACK_SECONDS = 60.0


def nft_tables() -> str:
    return subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, check=True
    ).stdout


def kill_and_wait(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(is_running(pid) for pid in pids):  # a zombie until reaped: dead all the same
        assert time.monotonic() < deadline, f"still alive: {pids}"
        time.sleep(0.05)


def monitor_pids(instances: list[str]) -> list[int]:
    """The ``[lxc monitor]`` processes of ``instances``: each holds one container up."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "[lxc monitor]" in cmdline and any(name in cmdline.split() for name in instances):
                found.append(int(entry.name))
    return found


async def kill_the_host(serve: ServeProcess, settings: Settings, instances: list[str]) -> None:
    client = incus_client(settings)
    try:
        inits = [
            (await client.sync("GET", f"/1.0/instances/{name}/state"))["pid"] for name in instances
        ]
    finally:
        await client.aclose()
    serve_pid = int((serve.data_dir / "serve.pid").read_text())
    caddy_pid = int((serve.data_dir / "caddy" / "caddy.pid").read_text())
    kill_and_wait([serve_pid, caddy_pid])
    kill_and_wait([*monitor_pids(instances), *[pid for pid in inits if pid > 0]])
    kill_and_wait([*daemon_pids("incusd"), *daemon_pids("lxcfs")])
    await asyncio.to_thread(forget_firewalls)


def forget_firewalls() -> None:
    """nftables keeps nothing across a reboot: Tidepool's table and Incus's are gone."""
    for table in ("tidepool", "incus"):
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)


async def test_the_start_command_brings_a_killed_host_back(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    settings = Settings()
    started = tidepool("service", "start", env=serve.env())
    assert started.returncode == 0, started
    runtime = build_runtime(settings)
    try:
        async with serve.api() as api:
            await api.create("alive")
            await api.create("resting")
            alive = await wait_for_status(api, "alive", {"running"})
            resting = await wait_for_status(api, "resting", {"running"})
            await api.act("resting", "stop")
            await wait_for_status(api, "resting", {"stopped"})
        instances = [instance_name_for(PREFIX, w["id"]) for w in (alive, resting)]
        kept = os.urandom(1 << 20)
        await runtime.push_file(instances[0], KEPT, kept, uid=1000, gid=1000)

        await kill_the_host(serve, settings, instances[:1])
        assert f"table inet {firewall.TABLE}" not in nft_tables()
        assert not settings.incus_socket.exists() or not daemon_pids("incusd")
        with pytest.raises(httpx.TransportError):
            await serve.ide_status("alive")

        began = time.monotonic()
        again = tidepool("service", "start", env=serve.env())
        assert again.returncode == 0, again
        while True:
            with contextlib.suppress(httpx.TransportError):
                if await serve.ide_status("alive") == 200:
                    break
            assert time.monotonic() - began < BACK_SECONDS, "the IDE never came back"
            await asyncio.sleep(0.2)
        print(f"killed host: IDE back {time.monotonic() - began:.1f} s after the start command")

        assert f"table inet {firewall.TABLE}" in nft_tables(), "the firewall is back"
        assert not firewall.ensure_firewall(settings.bridge_name).changed, "and it is whole"
        async with serve.api() as api:
            assert (await api.get("alive"))["status"] == "running"
            assert (await api.get("resting"))["status"] == "stopped", "stopped stays stopped"
        stored = await runtime.exec(instances[0], ["sha256sum", KEPT])
        assert stored.stdout.split()[0] == hashlib.sha256(kept).hexdigest()
    finally:
        await runtime.aclose()
        with contextlib.suppress(Exception):
            async with serve.api() as api:
                for name in ("alive", "resting"):
                    await delete_and_wait(api, name)
        tidepool("service", "stop", env=serve.env())
