"""``tidepool service restart`` drops nothing: open WebSockets stay up, no request fails.

A new version or new settings mean restarting ``serve``. SIGHUP stops it but leaves its
Caddy serving; the new ``serve`` adopts that Caddy (same pid, same config), so a terminal's
WebSocket through it never closes, and a request that comes while nothing listens on the
control plane's socket is held by Caddy until the new one does, instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest
import websockets

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.ws_echo import ECHO_PORT, start_ws_echo
from tidepool.bootstrap import build_runtime
from tidepool.cpu_share import CONTROL_PLANE_NICE, session_nice
from tidepool.domain.names import instance_name_for
from tidepool.loopback import websocket_options
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpr"


async def test_a_restart_keeps_websockets_open_and_fails_no_request(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    assert tidepool("service", "start", env=serve.env()).returncode == 0
    runtime = build_runtime(Settings())
    try:
        async with serve.api() as api:
            await api.create("echo")
            workspace = await wait_for_status(api, "echo", {"running"})
        await start_ws_echo(runtime, instance_name_for(PREFIX, workspace["id"]))
        url = f"ws://{ECHO_PORT}--echo.localhost:{serve.port}/"
        stop = asyncio.Event()
        gaps: list[float] = []
        failed: list[str] = []
        answered = 0

        async def echo(socket: websockets.ClientConnection) -> None:
            count = 0
            while not stop.is_set():
                sent = time.monotonic()
                await socket.send(str(count))
                assert await socket.recv() == str(count)
                gaps.append(time.monotonic() - sent)
                count += 1
                await asyncio.sleep(0.1)

        async def ask(http: httpx.AsyncClient) -> None:
            nonlocal answered
            while not stop.is_set():
                # A GET, which a client may send again by itself, and a POST, which it may not
                # (starting a running workspace: the control plane's answer is a 409).
                for method, path, ok in (
                    ("GET", "/api/workspaces", 200),
                    ("POST", "/api/workspaces/echo/start", 409),
                ):
                    try:
                        response = await http.request(method, path)
                        if response.status_code == ok:
                            answered += 1
                        else:
                            failed.append(f"{method} {response.status_code} {response.text[:200]}")
                    except httpx.HTTPError as error:
                        failed.append(f"{method} {error!r}")
                    await asyncio.sleep(0.025)

        caddy_pid = (serve.data_dir / "caddy" / "caddy.pid").read_text()
        serve_pid = (serve.data_dir / "serve.pid").read_text()
        async with (
            websockets.connect(url, **websocket_options(url)) as socket,
            httpx.AsyncClient(base_url=serve.base_url, timeout=30) as http,
        ):
            loops = [asyncio.create_task(echo(socket)), asyncio.create_task(ask(http))]
            await asyncio.sleep(1)
            restarted = await asyncio.to_thread(tidepool, "service", "restart", env=serve.env())
            assert restarted.returncode == 0, restarted
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*loops)

        assert (serve.data_dir / "serve.pid").read_text() != serve_pid, "serve was restarted"
        assert (serve.data_dir / "caddy" / "caddy.pid").read_text() == caddy_pid, "Caddy stayed"
        assert failed == [], failed
        assert answered > 20, "the API was asked throughout"
        assert len(gaps) > 20, "the WebSocket echoed throughout"
        # The restarted serve and the Caddy it adopted answer before any one workspace.
        for pid_file in (serve.data_dir / "serve.pid", serve.data_dir / "caddy" / "caddy.pid"):
            assert session_nice(int(pid_file.read_text())) == CONTROL_PLANE_NICE, pid_file
        print(f"restart: {answered} API answers, echo worst gap {max(gaps) * 1000:.0f} ms")
    finally:
        await runtime.aclose()
        with contextlib.suppress(Exception):
            async with serve.api() as api:
                await delete_and_wait(api, "echo")
        tidepool("service", "stop", env=serve.env())
