"""A git server of the test's own: repositories served over smart HTTP from a network
namespace the test builds (``support.stand_ins``) at 203.0.113.10 (TEST-NET-3, an address no
network here uses). A workspace's clone takes the host's real forwarding path and never
leaves this machine. Repositories under ``cgi-bin/git/private/`` need basic auth."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from support.stand_ins import StandIn, build, collisions

PORT = 8000
#: Python's CGI server runs scripts as ``nobody``: the repositories are not nobody's, which
#: git refuses unless told they are safe.
BACKEND = """#!/bin/sh
if [ "$REQUEST_METHOD" = POST ]; then sleep {delay}; fi
export GIT_PROJECT_ROOT={root} GIT_HTTP_EXPORT_ALL=1 HOME={root}
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
exec git http-backend
"""


def git(*argv: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test"}
    subprocess.run(["git", *argv], cwd=cwd, env=env, check=True, capture_output=True)


class GitServer:
    """Serves bare repositories from ``root/repos``; ``url`` is where ``add`` puts them."""

    def __init__(self, root: Path, address: str) -> None:
        self.root = root
        self.url = f"http://{address}:{PORT}/cgi-bin/git"

    def add(
        self,
        path: str,
        files: Mapping[str, bytes | str],
        branches: Mapping[str, Mapping[str, str]] | None = None,
    ) -> str:
        """A repository at ``path`` (``app.git``, ``private/app.git``) whose ``main`` holds
        ``files`` (an executable when its name ends in ``.sh`` or is ``install``), and each
        of ``branches`` that plus its own files; returns its URL."""
        work = Path(tempfile.mkdtemp(dir=self.root, prefix="work-"))
        git("init", "-q", "-b", "main", cwd=work)
        self._commit(work, files, "first")
        for branch, more in (branches or {}).items():
            git("checkout", "-q", "-b", branch, cwd=work)
            self._commit(work, more, branch)
            git("checkout", "-q", "main", cwd=work)
        bare = self.root / "repos" / path
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "-q", "--bare", str(work), str(bare), cwd=self.root)
        return f"{self.url}/{path}"

    @staticmethod
    def _commit(work: Path, files: Mapping[str, bytes | str], message: str) -> None:
        for name, content in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            if name.endswith(".sh") or name == "install":
                target.chmod(0o755)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)


@contextlib.contextmanager
def git_server(user: str = "", delay: float = 0.0) -> Iterator[GitServer]:
    """A running server in a namespace of its own; ``user`` (``NAME:SECRET``) guards
    ``private/``; each fetch's pack waits ``delay`` seconds (a clone that takes a while).
    Served from a folder ``nobody`` may read, which pytest's are not."""
    assert shutil.which("git") and shutil.which("ip"), "needs git and iproute2"
    root = Path(tempfile.mkdtemp(prefix="tidepool-git-"))
    root.chmod(0o755)
    tag = uuid.uuid4().hex[:5]
    stand_in = StandIn(
        "git", "203.0.113.10", "203.0.113.1", "203.0.113.0/24", f"tp-git-{tag}", f"tg{tag}"
    )
    assert not collisions(stand_in.block), "203.0.113.0/24 is in use on this machine"
    backend = root / "site" / "cgi-bin" / "git"
    backend.parent.mkdir(parents=True)
    backend.write_text(BACKEND.format(root=root / "repos", delay=delay))
    backend.chmod(0o755)
    program = Path(__file__).with_name("git_http.py")
    argv = [sys.executable, str(program), "--bind", stand_in.address, "--port", str(PORT)]
    server = build(stand_in, [*argv, "--directory", str(root / "site"), "--user", user])
    try:
        yield GitServer(root, stand_in.address)
    finally:
        server.kill()
        server.wait()
        subprocess.run(["ip", "link", "del", stand_in.host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", stand_in.namespace], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        deadline = time.monotonic() + 10
        while collisions(stand_in.block) and time.monotonic() < deadline:
            time.sleep(0.1)
