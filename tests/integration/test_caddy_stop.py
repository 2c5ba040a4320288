"""Stopping Caddy while a connection to its admin API is still open.

Caddy removes its pid file and only then shuts its admin endpoint down, waiting up to 10 s
for a request there to finish. ``CaddyProcess.stop`` once waited for the pid file, so it
returned with Caddy still running and then timed out reaping it: a red suite, and a Caddy
left behind.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from support.caddy import private_caddy
from tidepool.processes import is_running

pytestmark = pytest.mark.caddy


async def test_a_stop_ends_caddy_even_while_an_admin_request_holds_its_shutdown(
    tmp_path: Path,
) -> None:
    async with private_caddy(tmp_path) as (caddy, _routes):
        _reader, writer = await asyncio.open_unix_connection(caddy.options.admin_socket)
        writer.write(b"GET /config/ HTTP/1.1\r\nHost: admin\r\n")  # never finished
        await writer.drain()
        await asyncio.sleep(0.2)  # Caddy has read it: the connection is busy
        pid = caddy.process.pid()
        assert pid is not None
        started = time.monotonic()
        assert await asyncio.to_thread(caddy.process.stop, 1.0) is True
        took = time.monotonic() - started
        writer.close()
        assert not is_running(pid), "Caddy outlived its stop"
        assert took < 6, f"the stop took {took:.1f} s"
        assert caddy.process.stop() is False  # stopped is stopped: nothing left to stop
