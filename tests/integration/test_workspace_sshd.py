"""OpenSSH's server in the workspace image, and the SSH bridge in front of it, on real Incus.

The bridge (websockify on ``SSH_BRIDGE_PORT``) is the only way to sshd from outside the
workspace: sshd listens on loopback, so the same port on the instance's address is closed,
and a WebSocket to the bridge receives sshd's banner. sshd takes keys only, for the workspace
user only; each instance makes its own host keys at its first boot, so two share none. The
bridge runs as a system user of its own and outlives the clients that leave it. The real
OpenSSH client, through the bridge, logs in as the workspace user with a key and carries its
bytes unchanged both ways; root is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from support.instances import launch
from tidepool import bootstrap
from tidepool.domain.ide import SSH_BRIDGE_PORT
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus
BANNER = b"SSH-2.0-OpenSSH"
WS_STDIO = Path(__file__).resolve().parents[1] / "support" / "ws_stdio.py"


@dataclass(frozen=True, slots=True)
class Launched:
    name: str
    address: str


@pytest.fixture(scope="module")
async def runtime() -> AsyncIterator[Runtime]:
    async with bootstrap.opened_runtime(get_settings()) as rt:
        yield rt


@pytest.fixture(scope="module")
async def two(runtime: Runtime) -> AsyncIterator[tuple[Launched, Launched]]:
    """Two instances of the workspace image, each with its bridge answering."""
    settings = get_settings()
    names = [f"tp-ssh-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        addresses = await asyncio.gather(*(launch(runtime, n, settings) for n in names))
        launched = tuple(Launched(n, a) for n, a in zip(names, addresses, strict=True))
        for one in launched:
            await first_bytes(one.address, timeout=60)
        yield launched[0], launched[1]
    finally:
        for name in names:
            with contextlib.suppress(NotFoundError):
                await runtime.delete(name)


async def first_bytes(address: str, timeout: float = 10) -> bytes:
    """What the bridge relays first from sshd, retried until the bridge is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with connect(f"ws://{address}:{SSH_BRIDGE_PORT}/", open_timeout=5) as ws:
                message = await asyncio.wait_for(ws.recv(), 10)
                assert isinstance(message, bytes), "binary frames, not text"
                return message
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def out(runtime: Runtime, name: str, argv: list[str]) -> str:
    done = await runtime.exec(name, argv)
    assert done.ok, done.stderr
    return done.stdout


async def test_a_websocket_to_the_bridge_carries_sshds_banner(
    two: tuple[Launched, Launched],
) -> None:
    banner = await first_bytes(two[0].address)
    assert banner.startswith(BANNER), banner


async def test_the_bridge_outlives_its_clients_and_serves_no_files(
    runtime: Runtime, two: tuple[Launched, Launched]
) -> None:
    one = two[0]
    show = ["systemctl", "show", "-p", "MainPID", "--value", "tidepool-ssh-bridge"]
    before = (await out(runtime, one.name, show)).strip()
    for _ in range(3):
        assert (await first_bytes(one.address)).startswith(BANNER)
    assert (await out(runtime, one.name, show)).strip() == before, "one process for all"
    async with httpx.AsyncClient() as http:
        plain = await http.get(f"http://{one.address}:{SSH_BRIDGE_PORT}/")
    assert plain.status_code >= 400, "no web root: a plain GET gets no page"


async def test_sshd_listens_on_loopback_only(two: tuple[Launched, Launched]) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((two[0].address, 22), timeout=5).close()


async def test_sshd_takes_keys_only_and_only_the_workspace_user(
    runtime: Runtime, two: tuple[Launched, Launched]
) -> None:
    effective = await out(runtime, two[0].name, ["/usr/sbin/sshd", "-T"])
    settings = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in effective.splitlines() if line
    }
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "no"
    assert settings["allowusers"] == get_settings().workspace_user
    assert settings["listenaddress"] == "127.0.0.1:22"
    assert settings["x11forwarding"] == "no"
    assert settings["allowtcpforwarding"] == "yes", "VS Code Remote-SSH forwards with ssh -L"
    assert settings["subsystem"].startswith("sftp "), "scp and rsync need sftp"


async def test_each_instance_makes_host_keys_of_its_own(
    runtime: Runtime, two: tuple[Launched, Launched]
) -> None:
    read = ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"]
    first, second = [await out(runtime, one.name, read) for one in two]
    assert first.count("ssh-ed25519 ") == 1, first
    blobs = [{line.split()[1] for line in keys.splitlines()} for keys in (first, second)]
    assert not blobs[0] & blobs[1], "no host key in common"


async def test_the_bridge_runs_as_a_user_of_its_own(
    runtime: Runtime, two: tuple[Launched, Launched]
) -> None:
    processes = await out(runtime, two[0].name, ["ps", "-eo", "user:32=,args="])
    bridge = {line.split()[0] for line in processes.splitlines() if "websockify" in line}
    assert bridge == {"tidepool-ssh"}, processes


def run_ssh(
    key: Path, known: Path, address: str, target: str, command: str, data: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """The real OpenSSH client, through the bridge, with only ``key`` to offer."""
    proxy = f"{sys.executable} {WS_STDIO} ws://{address}:{SSH_BRIDGE_PORT}/"
    return subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            f"ProxyCommand={proxy}",
            target,
            command,
        ],
        input=data,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """A fresh key pair: the private key's path; the public one beside it (``.pub``)."""
    path = tmp_path / "key"
    made = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], capture_output=True
    )
    assert made.returncode == 0, made.stderr
    return path


async def test_the_real_ssh_client_logs_in_as_the_workspace_user_through_the_bridge(
    runtime: Runtime, two: tuple[Launched, Launched], key: Path
) -> None:
    one = two[0]
    known = key.parent / "known_hosts"
    await runtime.exec(one.name, ["mkdir", "-p", "-m", "700", "/home/dev/.ssh"], user=1000)
    await runtime.push_file(
        one.name,
        "/home/dev/.ssh/authorized_keys",
        key.with_suffix(".pub").read_bytes(),
        mode=0o600,
        uid=1000,
        gid=1000,
    )
    data = os.urandom(1 << 20)
    done = await asyncio.to_thread(
        run_ssh, key, known, one.address, f"dev@{one.name}", "sha256sum; exit 3", data
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    host_key = await out(runtime, one.name, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    assert host_key.split()[1] in known.read_text(), "the instance's own host key answered"
    root = await asyncio.to_thread(run_ssh, key, known, one.address, f"root@{one.name}", "true")
    assert root.returncode == 255 and b"Permission denied" in root.stderr, root.stderr
