"""The macOS path through the one control plane, against the fake ``tart`` and ``packer``.

Tart runs only on a Mac; here ``tests/fakes/tart`` (VMs, ``tart exec``, and ``ssh`` into the
VMs) and ``tests/fakes/packer`` (which checks the variables it is given against the template's
declarations, then registers the image with the fake Tart) stand in for Tart and Packer, first
on ``PATH``. Everything else is what Linux runs: the CLI, the settings, the application that
``bootstrap.build`` wires from them (the runtime found through its entry point, the route
table, the SQLite store, the workspace service, the worker and reconciler), a real Caddy
reading the route files, and ``verify``. Each fake VM gets a loopback address of its own (a
random 127.x.y.0/24 per test), and the images Packer builds run code-server at boot, so the
fake ``tart run`` answers on ``IP:8080`` while the VM runs: the IDE health check and Caddy's
proxy reach it.

One test walks the whole life: image build, create, route, verify, stop, start, delete.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from fakes.tart_env import FakeTart
from support.cli import tidepool
from support.ports import free_port
from tidepool import bootstrap
from tidepool.adapters.tart.runtime import TartRuntime
from tidepool.cli.app import app as cli_app
from tidepool.domain.identity import Identity
from tidepool.domain.workspace import Action, Status
from tidepool.images import tart as tart_images
from tidepool.loopback import websocket_options
from tidepool.services.ide import ide_healthy
from tidepool.services.naming import MACHINE_SETTINGS, machine_settings
from tidepool.services.verify import verify
from tidepool.services.worker import Worker
from tidepool.services.workspaces import instance_name
from tidepool.settings import get_settings

pytestmark = pytest.mark.caddy

IMAGE = "tidepool-alpine"
#: The workspace's owner, as the API would pass her on.
ANN = Identity("ann", admin=False)


@dataclass
class Mac:
    """A pretend Mac: the fakes on PATH and Tidepool's settings in the environment."""

    fake: FakeTart
    subnet: str
    iso: Path
    data_dir: Path

    def vm(self, name: str) -> dict[str, Any]:
        return self.fake.vm(name)

    def running(self, name: str) -> bool:
        """A fake VM runs while the `tart run` process holding it lives, as with Tart."""
        pid = int(str(self.vm(name).get("pid") or 0))
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            return False
        return pid > 0 and fields[0] not in ("Z", "X")


def loopback_subnet() -> str:
    """A /24 on loopback no other test uses, whose first VM address can take port 8080.

    The fake VM's code-server shares 8080 (SO_REUSEPORT) with a listener on every address,
    such as a Tidepool's Caddy on this machine (which by default listens on 127.0.0.1 only); a
    listener on every address that does not share would take every address's 8080, and then
    this test cannot give its VM a code-server: it fails and says which port is in the way.
    """
    subnet = f"127.{secrets.randbelow(155) + 100}.{secrets.randbelow(254) + 1}"
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((f"{subnet}.2", 8080))  # the fake's first VM gets .2
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise AssertionError(
                f"port 8080 is taken on {subnet}.2: a listener on *:8080 that does not share "
                "the port (SO_REUSEPORT) leaves the fake VM no code-server; stop it"
            ) from error
    return subnet


@pytest.fixture
def mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mac]:
    fake = FakeTart(tmp_path / "tart")
    bin_dir = fake.install_commands()
    subnet = loopback_subnet()
    iso = tmp_path / "alpine-virt-3.23.0-aarch64.iso"
    iso.write_bytes(b"not really an ISO: the fake Packer only checks that it is there")
    data_dir = tmp_path / "data"
    port = free_port()
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        **fake.env,
        **fake.packer_env,
        "FAKE_TART_SUBNET": subnet,
        "TIDEPOOL_CONFIG": str(tmp_path / "no-config.toml"),
        "TIDEPOOL_DATA_DIR": str(data_dir),
        "TIDEPOOL_RUNTIME": "tart",
        "TIDEPOOL_IMAGE_ALIAS": IMAGE,
        "TIDEPOOL_TART_ALPINE_ISO": str(iso),
        "TIDEPOOL_HTTP_HOST": "127.0.0.1",
        "TIDEPOOL_HTTP_PORT": str(port),
        "TIDEPOOL_HTTPS_PORT": str(free_port()),
        "TIDEPOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    # The fakes stand in for a Mac's Tart and Packer; the build asks for macOS first.
    monkeypatch.setattr(tart_images, "is_macos", lambda: True)
    yield Mac(fake, subnet, iso, data_dir)
    for name, vm in fake.read()["vms"].items():  # a failed test leaves no `tart run` behind
        if vm.get("pid"):
            fake.tart("stop", name, "--timeout", "0")


async def cli(*args: str) -> Result:
    """``tidepool ARGS...`` in this process (in a thread: a command runs its own event loop),
    where the build sees the stand-in for macOS."""
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))


async def command(*args: str) -> subprocess.CompletedProcess[str]:
    """``tidepool ARGS...`` as its own process, as a user runs it (Caddy outlives it)."""
    return await asyncio.to_thread(tidepool, *args, timeout=120)


async def settle(platform: bootstrap.Tidepool, worker: Worker, name: str) -> Status:
    """Run the worker until no job is due; return where the workspace ended."""
    for _ in range(20):
        if not await worker.run_once():
            workspace = await platform.workspaces.get(name, who=ANN)
            assert not workspace.error, workspace.error
            return workspace.status
    raise AssertionError("jobs kept coming")


async def test_image_build_create_route_verify_stop_start_delete_on_tart(mac: Mac) -> None:
    # 1. The image, through the CLI: Packer gets every variable the template requires.
    built = await cli("image", "build", "--runtime", "tart")
    assert built.exit_code == 0, built.output
    key = mac.data_dir / "tart" / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public_key = key.with_name("id_ed25519.pub").read_text().strip()
    image = mac.fake.read()["images"][IMAGE]
    assert image["authorized_keys"] == [public_key]  # the key the runtime will offer
    assert image["variables"]["alpine_iso"] == str(mac.iso)
    assert image["root_locked"] is False
    again = await cli("image", "build", "--runtime", "tart")
    assert again.exit_code == 0 and "Up to date" in again.output, again.output

    # 2. Caddy, as on Linux, reading the route files the route table writes.
    caddy = await command("caddy", "bootstrap")
    assert caddy.returncode == 0, caddy.stdout + caddy.stderr
    try:
        # 3. The control plane, wired by the one composition root from settings that say tart.
        async with bootstrap.build(get_settings()) as platform:
            await walk_the_life(mac, platform)
    finally:
        stopped = await command("caddy", "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


async def walk_the_life(mac: Mac, platform: bootstrap.Tidepool) -> None:
    settings, routes, http = platform.settings, platform.routes, platform.http
    runtime = platform.runtime  # from the `tart` entry point
    assert isinstance(runtime, TartRuntime)
    worker = platform.worker()
    page = settings.workspace_url("mac")  # the workspace's own origin

    # 4. Create: a clone of the built image, started, reachable, routed.
    created = await platform.workspaces.create("mac", who=ANN)
    assert await settle(platform, worker, "mac") is Status.RUNNING
    workspace = await platform.workspaces.get("mac", who=ANN)
    instance = instance_name(workspace)
    vm = runtime.vm_name(instance)
    assert mac.vm(vm)["source"] == IMAGE
    assert mac.vm(vm)["cpu"] == settings.workspace_cpus
    assert mac.vm(vm)["memory"] == settings.workspace_memory_mib
    assert mac.running(vm)
    address = f"{mac.subnet}.{mac.vm(vm)['mac_index']}"
    assert workspace.address == address
    assert dict(await routes.list()) == {"mac": address}
    # No guest agent in the image: exec and the IDE's settings (its name) went over SSH, with
    # the key the image build put in (the fake's ssh refuses any other).
    assert (await runtime.exec(instance, ["id", "-u"])).stdout == "0\n"
    settings_file = mac.vm(vm)["files"][MACHINE_SETTINGS]
    assert bytes.fromhex(settings_file["data"]) == machine_settings("mac")

    # 5. Verify: every check of `tidepool verify`, through Caddy to the VM's code-server.
    ide_url = settings.workspace_url(workspace.name)
    checks = await verify(
        runtime, routes, http, workspace.name, instance, ide_url, websocket_options(ide_url)
    )
    assert [c.name for c in checks if not c.ok] == [], checks

    # 6. Stop: route gone first, then the VM; nothing answers for the workspace.
    await platform.workspaces.request("mac", Action.STOP, who=ANN)
    assert await settle(platform, worker, "mac") is Status.STOPPED
    assert not mac.running(vm)
    assert vm in mac.fake.read()["vms"]  # stopped keeps the disk
    assert dict(await routes.list()) == {}
    assert (await http.get(page)).status_code == 404

    # 7. Start again: same VM, same address, routed and healthy again.
    await platform.workspaces.request("mac", Action.START, who=ANN)
    assert await settle(platform, worker, "mac") is Status.RUNNING
    assert mac.running(vm)
    assert (await platform.workspaces.get("mac", who=ANN)).address == address
    assert dict(await routes.list()) == {"mac": address}
    assert await ide_healthy(http, address)
    through_caddy = await http.get(page, follow_redirects=True)
    assert through_caddy.status_code == 200
    assert "vscode-workbench-web-configuration" in through_caddy.text

    # 8. Delete: VM and route gone, the record says deleted, the image stays.
    await platform.workspaces.request("mac", Action.DELETE, who=ANN)
    for _ in range(20):
        if not await worker.run_once():
            break
    assert (await platform.store.get_by_id(created.id)).status is Status.DELETED
    state = mac.fake.read()
    assert vm not in state["vms"]
    assert IMAGE in state["images"]
    assert dict(await routes.list()) == {}
    assert (await http.get(page)).status_code == 404
