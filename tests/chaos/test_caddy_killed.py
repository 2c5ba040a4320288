"""Caddy SIGKILLed under a running ``tidepool serve``: the IDE answers again within 3 s.

Caddy is serve's child, so a killed Caddy stays a zombie until serve reaps it, and
``kill(pid, 0)`` succeeds on a zombie: the front door reaps it and sees the death. Measured
from the kill to the first IDE answer through Caddy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from support.serve import serve_with_workspace

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
#: Issue 11's target for a killed Caddy.
RECOVERY_SECONDS = 3.0


async def test_a_killed_caddy_is_back_with_its_routes_within_3_seconds(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'tp.db'}"
    async with serve_with_workspace(tmp_path / "data", database, "tpk", "sturdy") as serve:
        assert await serve.ide_status("sturdy") == 200
        pid_file = serve.data_dir / "caddy" / "caddy.pid"
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)
        started = time.monotonic()
        while True:
            try:
                answered = await serve.ide_status("sturdy")
            except httpx.TransportError:  # refused while Caddy is down: try again
                answered = 0
            if answered == 200:
                break
            assert time.monotonic() - started < RECOVERY_SECONDS * 3, "Caddy never came back"
            await asyncio.sleep(0.05)
        recovered = time.monotonic() - started
        assert int(pid_file.read_text()) != killed, "a new Caddy, not the dead one"
        assert recovered <= RECOVERY_SECONDS, f"the IDE answered again after {recovered:.2f} s"
