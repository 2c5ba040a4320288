"""A workspace made from a repository: cloned into home, as its user, from a git server of this
machine, behind the open IDE and told in its log as it happens; a repository that is not
there, or a host that does not answer, leaves a running workspace and the reason in its log.

The git server is ``git http-backend`` (smart HTTP) behind Python's CGI server, in a network
namespace the test builds (``support.stand_ins``) at 203.0.113.10 (TEST-NET-3, an address
no network here uses): the workspace's clone takes the host's real forwarding path and never
leaves this machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.stand_ins import StandIn, build, collisions, ip
from tidepool.bootstrap import build_runtime
from tidepool.client import ApiClient
from tidepool.domain.names import instance_name_for
from tidepool.services.setup_scripts import CONTACT_SECONDS
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpg"
PORT = 8000
#: Python's CGI server runs scripts as ``nobody``: the repositories are not nobody's, which
#: git refuses unless told they are safe.
BACKEND = """#!/bin/sh
export GIT_PROJECT_ROOT={root} GIT_HTTP_EXPORT_ALL=1 HOME={root}
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
exec git http-backend
"""


def git(*argv: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test"}
    subprocess.run(["git", *argv], cwd=cwd, env=env, check=True, capture_output=True)


def repository(root: Path) -> None:
    """``root/repos/app.git``: ``main`` with a README, ``dev`` with a DEV file too."""
    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "README").write_text("the app\n")
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("checkout", "-q", "-b", "dev", cwd=work)
    (work / "DEV").write_text("on dev\n")
    git("add", "DEV", cwd=work)
    git("commit", "-q", "-m", "dev", cwd=work)
    (root / "repos").mkdir()
    git("clone", "-q", "--bare", str(work), str(root / "repos" / "app.git"), cwd=root)
    backend = root / "site" / "cgi-bin" / "git"
    backend.parent.mkdir(parents=True)
    backend.write_text(BACKEND.format(root=root / "repos"))
    backend.chmod(0o755)


@pytest.fixture
def git_server() -> Iterator[str]:
    """The git server's URL (``/cgi-bin/git/app.git`` is the repository; a path outside
    ``cgi-bin`` is a plain 404), served from a namespace of the test's own (from a
    folder ``nobody`` may read, which pytest's are not)."""
    assert shutil.which("git") and shutil.which("ip"), "needs git and iproute2"
    served = Path(tempfile.mkdtemp(prefix="tidepool-git-"))
    served.chmod(0o755)
    tag = uuid.uuid4().hex[:5]
    stand_in = StandIn(
        "git", "203.0.113.10", "203.0.113.1", "203.0.113.0/24", f"tp-git-{tag}", f"tg{tag}"
    )
    assert not collisions(stand_in.block), "203.0.113.0/24 is in use on this machine"
    repository(served)
    server = build(
        stand_in,
        [
            sys.executable,
            "-m",
            "http.server",
            "--cgi",
            "--bind",
            stand_in.address,
            "--directory",
            str(served / "site"),
            str(PORT),
        ],
    )
    try:
        yield f"http://{stand_in.address}:{PORT}"
    finally:
        server.kill()
        server.wait()
        subprocess.run(["ip", "link", "del", stand_in.host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", stand_in.namespace], capture_output=True)
        shutil.rmtree(served, ignore_errors=True)
        deadline = time.monotonic() + 10
        while collisions(stand_in.block) and time.monotonic() < deadline:
            time.sleep(0.1)


async def wait_for_log(api: ApiClient, name: str, text: str, timeout: float) -> str:
    """The workspace's whole setup log once it holds ``text``."""
    deadline = time.monotonic() + timeout
    while True:
        found = "\n".join(item["text"] for item in (await api.logs(name))["items"])
        if text in found:
            return found
        assert time.monotonic() < deadline, f"no {text!r} in the log of {name}: {found!r}"
        await asyncio.sleep(0.2)


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
