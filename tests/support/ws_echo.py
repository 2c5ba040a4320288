"""A WebSocket echo server inside a workspace, on a forwarded port: a long-lived connection
through Caddy (as an IDE terminal is), whose every message comes back, so a drop or a stall
is seen at once. It runs on the ``ws`` module code-server ships, under the image's node."""

from __future__ import annotations

import asyncio
import time

from tidepool.ports import Runtime

ECHO_PORT = 8081
_NODE_MODULES = "/opt/tidepool/code-server/lib/node_modules/code-server/node_modules"
_SERVER = (
    "const WS = require('ws');"
    f"new WS.Server({{port: {ECHO_PORT}}}).on('connection', (c) =>"
    " c.on('message', (m, binary) => c.send(m, {binary})));"
)


async def start_ws_echo(runtime: Runtime, instance: str, timeout: float = 30) -> None:
    """Start the echo server as the workspace's user and wait until it listens."""
    launched = await runtime.exec(
        instance,
        ["sh", "-c", f'nohup node -e "{_SERVER}" >/tmp/ws-echo.log 2>&1 &'],
        user=1000,
        env={"NODE_PATH": _NODE_MODULES, "HOME": "/home/dev"},
    )
    assert launched.exit_code == 0, launched
    deadline = time.monotonic() + timeout
    while True:
        probe = await runtime.exec(instance, ["sh", "-c", f"ss -ltn | grep -q ':{ECHO_PORT} '"])
        if probe.exit_code == 0:
            return
        assert time.monotonic() < deadline, "the echo server did not listen"
        await asyncio.sleep(0.2)
