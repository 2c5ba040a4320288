"""``serve`` SIGKILLed while a workspace's clone runs behind its open IDE, then started again.

The clone was a task of the dead ``serve``, not a job on the queue: the workspace stays
running, and its setup opened (``setup_started``) and never closed. The next ``serve`` finds
it at its start and runs the setup again. The killed ``serve``'s clone still runs in the
workspace (an exec outlives its caller): the new one waits for it to end, then clears what it
left or finds it done, so the repository ends cloned once, whole, in the folder the IDE has
open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from support.git_server import git_server
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_log, wait_for_status
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
#: How long each pack takes: the clone is surely under way when ``serve`` is killed, and
#: still running when the next ``serve`` is up (a restart took 3-5 s on a loaded machine).
CLONE_DELAY = 20.0


async def test_a_clone_cut_by_a_killed_serve_is_run_again_by_the_next(tmp_path: Path) -> None:
    with git_server(delay=CLONE_DELAY) as git:
        repository = git.add("app.git", {"README": "whole\n"})
        serve = ServeProcess(
            tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpk"
        )
        serve.start()
        runtime = build_runtime(Settings())
        try:
            async with serve.api() as api:
                made = await api.create("cut", repository=repository)
                await wait_for_status(api, "cut", {"running"})
                await wait_for_log(api, "cut", "Cloning into", 60)
            serve.kill()
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int((serve.data_dir / "caddy" / "caddy.pid").read_text()), signal.SIGKILL)

            restarted = time.monotonic()
            serve.start()
            async with serve.api() as api:
                log = await wait_for_log(api, "cut", "Cloned into /home/dev/app.", 120)
                took = time.monotonic() - restarted
                print(f"cloned {took:.1f} s after the restart (the pack takes {CLONE_DELAY} s)")
                assert "An earlier clone still runs: waiting for it to end." in log, log
                assert (await api.get("cut"))["status"] == "running"
                instance = instance_name_for("tpk", made["id"])
                looked = await runtime.exec(
                    instance,
                    ["sh", "-c", "cat ~/app/README; ls -A ~/.tidepool | grep -v lock"],
                    user=1000,
                    env={"HOME": "/home/dev"},
                )
                # (``home-seeded``: the image filled the new home volume at the first start)
                assert looked.stdout.split() == ["whole", "cloned", "home-seeded", "setup"], looked
                await delete_and_wait(api, "cut")
        finally:
            await runtime.aclose()
            if serve.process is None or serve.process.poll() is not None:
                serve.start()
            serve.stop()
