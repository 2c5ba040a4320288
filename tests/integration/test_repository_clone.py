"""A workspace made from a repository: cloned into home, as its user, from a git server of this
machine, behind the open IDE and told in its log as it happens; a repository that is not
there, or a host that does not answer, leaves a running workspace and the reason in its log.

The git server is ``support.git_server``: ``git http-backend`` in a network namespace the test
builds, never leaving this machine.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.git_server import PORT, git_server
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_log, wait_for_status
from support.stand_ins import StandIn, build, collisions, ip
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.services.setup_scripts import CONTACT_SECONDS
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpg"


@pytest.fixture(name="git_server")
def app_repository() -> Iterator[str]:
    """The server's URL: ``/cgi-bin/git/app.git`` is a repository whose ``main`` has a README
    and whose ``dev`` has a DEV file too; a path outside ``cgi-bin`` is a plain 404."""
    with git_server() as server:
        server.add("app.git", {"README": "the app\n"}, {"dev": {"DEV": "on dev\n"}})
        yield server.url.removesuffix("/cgi-bin/git")


async def test_a_repository_is_cloned_as_the_user_and_a_missing_one_is_only_logged(
    tmp_path: Path, git_server: str
) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    serve.start()
    runtime = build_runtime(Settings())
    try:
        async with serve.api() as api:
            await api.create("cloned", repository=f"{git_server}/cgi-bin/git/app.git", branch="dev")
            await api.create("missing", repository=f"{git_server}/nothing.git")
            cloned = await wait_for_status(api, "cloned", {"running", "failed"})
            missing = await wait_for_status(api, "missing", {"running", "failed"})
            assert (cloned["status"], missing["status"]) == ("running", "running")
            log = await wait_for_log(api, "cloned", "Cloned into /home/dev/app.", 120)
            assert "Asking" in log and "Cloning into" in log, log

            instance = instance_name_for(PREFIX, cloned["id"])
            looked = await runtime.exec(
                instance,
                ["sh", "-c", "stat -c %U /home/dev/app/DEV && git -C /home/dev/app branch"],
                user=1000,
            )
            assert looked.stdout.split() == ["dev", "*", "dev"], looked

            failed = await wait_for_log(api, "missing", "tried again at the next start", 120)
            assert "not found" in failed, failed
            assert await serve.ide_status("missing") == 200, "the IDE opens all the same"
            for name in ("cloned", "missing"):
                await delete_and_wait(api, name)
    finally:
        await runtime.aclose()
        serve.stop()


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A repository URL on a host that never answers: its namespace has no way back, so a
    connection's first packet arrives and no answer ever leaves (as a firewall that drops)."""
    tag = uuid.uuid4().hex[:5]
    stand_in = StandIn(
        "silent", "198.51.100.10", "198.51.100.1", "198.51.100.0/24", f"tp-sil-{tag}", f"ts{tag}"
    )
    assert not collisions(stand_in.block), "198.51.100.0/24 is in use on this machine"
    holder = build(stand_in, ["sleep", "3600"])
    ip("-n", stand_in.namespace, "route", "del", f"{stand_in.host_address}/32")
    try:
        yield f"http://{stand_in.address}:{PORT}/team/app.git"
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["ip", "link", "del", stand_in.host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", stand_in.namespace], capture_output=True)


async def test_a_host_that_does_not_answer_costs_the_ide_nothing_and_is_told_in_bounded_time(
    tmp_path: Path, silent_host: str
) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    serve.start()
    try:
        async with serve.api() as api:
            asked = time.monotonic()
            await api.create("silent", repository=silent_host)
            workspace = await wait_for_status(api, "silent", {"running", "failed"})
            to_running = time.monotonic() - asked
            assert workspace["status"] == "running"
            # The create's own time: the clone waits behind the IDE, not in front of it.
            assert to_running < CONTACT_SECONDS, f"running after {to_running:.1f} s"
            assert workspace["url"].endswith("?folder=/home/dev/app")
            assert await serve.ide_status("silent") == 200
            # Told as it happens: the first line is in the log while the step still runs.
            early = await wait_for_log(api, "silent", "Asking", 10)
            assert "did not answer" not in early, early
            told = await wait_for_log(
                api, "silent", f"did not answer within {CONTACT_SECONDS} s", CONTACT_SECONDS + 20
            )
            assert time.monotonic() - asked < to_running + CONTACT_SECONDS + 15
            assert "tried again at the next start" in told, told
            await delete_and_wait(api, "silent")
    finally:
        serve.stop()
