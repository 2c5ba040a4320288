"""incusd and lxcfs SIGKILLed under a running platform (no systemd) come back within 5 s.

``serve`` keeps both alive itself (``host.daemon_keeper``). Each is killed in turn while the
platform runs; a workspace is asked for at that moment. The daemon must be back (incusd
answering on its socket, lxcfs serving where incusd looks) within ``BACK_WITHIN`` seconds, the
workspace must come up running, never failed, and ``service status`` must say what died.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool.host import daemon_keeper, lxcfs
from tidepool.host.daemons import INCUSD, daemon_pids
from tidepool.processes import is_running
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
BACK_WITHIN = 5.0


def incusd_answers(socket: Path) -> bool:
    if not daemon_pids("incusd") or not socket.exists():
        return False
    ready = subprocess.run([str(INCUSD), "waitready", "--timeout=1"], capture_output=True)
    return ready.returncode == 0


def lxcfs_serves() -> bool:
    return bool(daemon_pids("lxcfs")) and lxcfs.serves(lxcfs.expected_mount())


async def kill(name: str) -> None:
    pids = daemon_pids(name)
    assert len(pids) == 1, f"expected one {name}, found {pids}"
    os.kill(pids[0], signal.SIGKILL)
    while is_running(pids[0]):
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("daemon", ["incusd", "lxcfs"])
async def test_a_killed_daemon_is_back_within_5_s_and_a_create_made_meanwhile_runs(
    tmp_path: Path, daemon: str
) -> None:
    socket = Settings().incus_socket
    back = {"incusd": lambda: incusd_answers(socket), "lxcfs": lxcfs_serves}[daemon]
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpd")
    serve.start()
    try:
        assert back(), f"{daemon} should run before the test"
        await kill(daemon)
        killed_at = time.monotonic()
        async with serve.api() as api:
            await api.create("meanwhile")
            while not await asyncio.to_thread(back):
                assert time.monotonic() - killed_at < 30, f"{daemon} did not come back"
                await asyncio.sleep(0.05)
            took = time.monotonic() - killed_at
            assert took <= BACK_WITHIN, f"{daemon} was back after {took:.1f} s"
            # Started with a daemon's umask, not serve's 077 (an incusd with it made every
            # directory `incus exec` created private to root).
            [pid] = daemon_pids(daemon)
            assert "Umask:\t0022" in Path(f"/proc/{pid}/status").read_text()
            created = await wait_for_status(api, "meanwhile", {"running", "failed"}, timeout=120)
            assert created["status"] == "running", created
            assert await serve.ide_status("meanwhile") == 200
            assert serve.process is not None
            said = daemon_keeper.describe(
                serve.data_dir / daemon_keeper.FILE_NAME, serve.process.pid
            )
            assert f"{daemon} is up again after it died 1 time(s)." in said, said
            assert f"host: {daemon} is gone" in serve.log()
            await delete_and_wait(api, "meanwhile")
    finally:
        serve.stop()
