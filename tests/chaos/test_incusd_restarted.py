"""incusd restarted in the middle of a create and of a stop: nothing is marked failed for it.

incusd is killed (SIGKILL, as a crash or an impatient restart: its containers keep running
under their monitors) while the worker is making the workspace, then while it stops it; each
time it is started again a few seconds later as ``tidepool host init`` would. The worker
meets "cannot reach incusd", waits for it (never failing the workspace for it) and finishes
once it is back; the event log never shows ``failed``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool.host.daemons import daemon_pids, ensure_incusd
from tidepool.processes import is_running
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
#: How long incusd stays away: longer than the worker's attempts would have lasted before.
DOWN_SECONDS = 4.0


def incusd_pid() -> int:
    """incusd itself, never one of its containers' monitors (forks named ``incusd`` too)."""
    pids = daemon_pids("incusd")
    assert len(pids) == 1, f"expected one incusd, found {pids}"
    return pids[0]


async def restart_incusd() -> None:
    """Kill incusd, keep it away for ``DOWN_SECONDS``, start it again and wait until ready."""
    pid = incusd_pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while is_running(pid):  # a zombie until init reaps it: dead all the same
        assert time.monotonic() < deadline, "incusd did not stop"
        await asyncio.sleep(0.1)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(ensure_incusd, Settings().incus_socket)
    assert incusd_pid() != pid, "a new incusd"


async def test_a_create_and_a_stop_survive_an_incusd_restart(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpi")
    serve.start()
    try:
        async with serve.api() as api:
            await api.create("stormy")
            await wait_for_status(api, "stormy", {"creating", "starting"}, timeout=60)
            await restart_incusd()
            created = await wait_for_status(api, "stormy", {"running", "failed"}, timeout=120)
            assert created["status"] == "running", created
            assert await serve.ide_status("stormy") == 200

            await api.act("stormy", "stop")
            await wait_for_status(api, "stormy", {"stopping", "stopped"}, timeout=60)
            await restart_incusd()
            stopped = await wait_for_status(api, "stormy", {"stopped", "failed"}, timeout=120)
            assert stopped["status"] == "stopped", stopped

            statuses = []
            async with asyncio.timeout(10):
                async for event in api.events("stormy"):
                    if event["kind"] == "status":
                        statuses.append(event["value"])
                    if (event["kind"], event["value"]) == ("status", "stopped"):
                        break
            assert "failed" not in statuses, statuses
            assert statuses[-1] == "stopped" and "running" in statuses, statuses
            await delete_and_wait(api, "stormy")
    finally:
        serve.stop()
