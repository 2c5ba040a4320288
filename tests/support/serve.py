"""``tidepool serve`` as a real process for integration tests, on ports and paths of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support import leftovers
from support.browserlike import browserlike_client
from support.ports import free_port
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.client import JSON, ApiClient

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServeProcess:
    data_dir: Path
    port: int
    database_url: str
    prefix: str = "tpt"
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: Run before serve's own command, which it must exec (a namespace of its own).
    command_prefix: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_socket(self) -> Path:
        return self.data_dir / "api.sock"

    @property
    def caddy_admin_socket(self) -> Path:
        return self.data_dir / "caddy" / "admin.sock"

    def route_table(self) -> CaddyRouteTable:
        """The routes this serve's Caddy reads (what ``bootstrap.build_route_table`` opens)."""
        return CaddyRouteTable(self.data_dir / "caddy" / "routes")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TIDEPOOL_DATA_DIR": str(self.data_dir),
            "TIDEPOOL_HTTP_HOST": "127.0.0.1",
            "TIDEPOOL_HTTP_PORT": str(self.port),
            "TIDEPOOL_PUBLIC_URL": self.base_url,
            "TIDEPOOL_DATABASE_URL": self.database_url,
            "TIDEPOOL_INSTANCE_PREFIX": self.prefix,
            "TIDEPOOL_WORKER_LEASE_SECONDS": "4",
            "TIDEPOOL_RESYNC_INTERVAL_SECONDS": "2",
            "TIDEPOOL_WORKSPACE_MEMORY_MIB": "1024",
            **self.extra_env,
        }

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        leftovers.STARTED.append(self.data_dir)
        self.api_socket.unlink(missing_ok=True)
        with (self.data_dir / "serve.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command_prefix, sys.executable, "-m", "tidepool.cli", "serve"],
                env=self.env(),
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"tidepool serve exited: {self.log()[-3000:]}")
            if self.api_socket.exists() and api_healthy(self.api_socket):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"tidepool serve did not come up: {self.log()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash. Caddy keeps running."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def signal_caddy(self, sig: signal.Signals) -> None:
        """Send ``sig`` to this serve's Caddy, if one runs (it outlives a SIGKILLed serve)."""
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((self.caddy_admin_socket.parent / "caddy.pid").read_text()), sig)

    def stop(self) -> int:
        """SIGTERM and wait for the clean shutdown; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    async def ide_status(self, name: str) -> int:
        """The status of workspace ``name``'s IDE through this serve's Caddy, as a browser
        gets it; a 200 must be the workbench."""
        async with browserlike_client() as http:
            response = await http.get(f"{self.base_url}/workspace/{name}/", follow_redirects=True)
        if response.status_code == 200:
            assert "vscode-workbench-web-configuration" in response.text
        return response.status_code

    def log(self) -> str:
        path = self.data_dir / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @contextlib.asynccontextmanager
    async def api(self, user: str = "") -> AsyncIterator[ApiClient]:
        client = ApiClient.connect(socket=self.api_socket, user=user)
        try:
            yield client
        finally:
            await client.aclose()


def api_healthy(api_socket: Path) -> bool:
    """True when the API answers ``/api/health`` with 200 on its unix socket.

    A plain socket, closed whatever happens: the socket file exists a moment before the API
    listens, and an HTTP client's socket that failed to connect then was left for the
    garbage collector (a ``ResourceWarning`` in whichever test came next).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(str(api_socket))
            probe.sendall(b"GET /api/health HTTP/1.0\r\nHost: t\r\n\r\n")
            status_line = probe.recv(64).split(b"\r\n", 1)[0]
        except OSError:
            return False
    return status_line.split(b" ")[1:2] == [b"200"]


@contextlib.contextmanager
def running_serve(data_dir: Path, database_url: str, **kwargs: object) -> Iterator[ServeProcess]:
    serve = ServeProcess(data_dir, free_port(), database_url, **kwargs)  # type: ignore[arg-type]
    serve.start()
    try:
        yield serve
    finally:
        if serve.process and serve.process.poll() is None:
            serve.stop()
        serve.signal_caddy(signal.SIGTERM)  # Caddy outlives a SIGKILLed serve
        # What it made outlives it: its warm pool above all, which a stopped platform keeps
        # (a module's serve outlives the test that started it, and its clean-up). Only its
        # own: another serve of the test may still be running.
        leftovers.delete_made_by([data_dir])


async def wait_for_status(
    client: ApiClient, name: str, wanted: set[str], timeout: float = 180
) -> JSON:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        workspace = await client.get(name)
        if workspace["status"] in wanted:
            return workspace
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} stuck in {workspace['status']}: {workspace}")
        await asyncio.sleep(0.2)


async def delete_and_wait(client: ApiClient, name: str, timeout: float = 120) -> None:
    """Delete the workspace and wait until it is gone (its instance with it)."""
    await client.act(name, "delete")
    deadline = asyncio.get_running_loop().time() + timeout
    while left := [item for item in (await client.list())["items"] if item["name"] == name]:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} was not deleted in {timeout} s: {left}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serve_with_workspace(
    data_dir: Path,
    database_url: str,
    prefix: str,
    name: str,
    owner: str = "",
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[ServeProcess]:
    """A ``tidepool serve`` of its own with workspace ``name`` running. Afterwards the
    workspace is deleted and serve stopped, whatever happened: no other serve would ever
    delete the instance (it is this installation's alone). ``owner`` makes it
    theirs (the host's otherwise); ``extra_env`` sets serve's settings, sign-in for one."""
    serve = ServeProcess(data_dir, free_port(), database_url, prefix, extra_env or {})
    serve.start()
    try:
        async with serve.api(user=owner) as api:
            await api.create(name)
            await wait_for_status(api, name, {"running"})
        yield serve
    finally:
        try:
            async with serve.api() as api:
                await delete_and_wait(api, name)
        finally:
            serve.stop()


async def wait_for_log(api: ApiClient, name: str, text: str, timeout: float) -> str:
    """Workspace ``name``'s whole setup log once it holds ``text`` (setup runs behind the
    IDE: a running workspace may still be cloning)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = "\n".join(item["text"] for item in (await api.logs(name))["items"])
        if text in found:
            return found
        assert asyncio.get_running_loop().time() < deadline, (
            f"no {text!r} in the log of {name}: {found!r}"
        )
        await asyncio.sleep(0.2)
