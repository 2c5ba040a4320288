"""SSH into a workspace through the front door: the real OpenSSH client, Caddy, Incus.

A platform with sign-in (``forward_auth``), run as ``tidepool service`` so that it can be
restarted under an open session; ann owns workspace ``shell`` and has a key and an API token
with the ``ssh`` scope. After ``tidepool config-ssh``, plain ``ssh``, ``scp``, ``rsync`` and
``ssh -L`` work on ``tidepool.shell``; an interactive session outlives a route change and
``tidepool service restart``; everyone else is refused before a byte reaches the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.users import write_users
from tidepool.auth.tokens import TokenStore
from tidepool.domain.identity import DEFAULT_SCOPES, Scope

pytestmark = [pytest.mark.incus, pytest.mark.caddy, pytest.mark.e2e]
PREFIX = "tsh"
PASSWORDS = {"ann": "ann-password-1", "bob": "bob-password-2"}


@dataclass
class Shell:
    serve: ServeProcess
    home: Path
    key: Path
    tokens: dict[str, str]

    def env(self, who: str = "ann") -> dict[str, str]:
        """A developer's machine: their own home, and ``who``'s token in the environment."""
        return {**os.environ, "HOME": str(self.home), "TIDEPOOL_TOKEN": self.tokens[who]}

    def ssh_argv(self, program: str = "ssh") -> list[str]:
        return [
            program,
            "-F",
            str(self.home / ".ssh" / "config"),
            "-i",
            str(self.key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ]

    async def ssh(self, *argv: str, who: str = "ann") -> subprocess.CompletedProcess[str]:
        return await run([*self.ssh_argv(), *argv], self.env(who))


async def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A program to its end, off the event loop (the platform's clients share it)."""
    return await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@contextlib.asynccontextmanager
async def shell(tmp_path: Path) -> AsyncIterator[Shell]:
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", PASSWORDS, frozenset())
    serve = ServeProcess(
        data,
        free_port(),
        f"sqlite:///{tmp_path / 'tp.db'}",
        PREFIX,
        # Activity looked at every second: an open session must show as an SSH tunnel.
        {"TIDEPOOL_AUTH": "forward_auth", "TIDEPOOL_ACTIVITY_INTERVAL_SECONDS": "1"},
    )
    assert tidepool("service", "start", env=serve.env()).returncode == 0
    try:
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        key = home / ".ssh" / "id_ed25519"
        made = await run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], dict(os.environ)
        )
        assert made.returncode == 0, made.stderr
        store = TokenStore(data / "tokens.json")
        tokens = {
            "ann": store.create("ann", scopes=DEFAULT_SCOPES | {Scope.SSH})[0],
            "ann-no-ssh": store.create("ann")[0],
            "bob": store.create("bob", scopes=DEFAULT_SCOPES | {Scope.SSH})[0],
        }
        async with serve.api(user="ann") as api:
            await api.create("shell")
            await wait_for_status(api, "shell", {"running"})
            await api.add_key(Path(f"{key}.pub").read_text(), "laptop")
        opened = Shell(serve, home, key, tokens)
        done = await asyncio.to_thread(
            tidepool, "config-ssh", "--url", serve.base_url, env=opened.env()
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield opened
    finally:
        with contextlib.suppress(Exception):
            async with serve.api() as api:
                await delete_and_wait(api, "shell")
        tidepool("service", "stop", env=serve.env())


async def until_in(shell: Shell, seconds: float = 15) -> None:
    """Until the key reached the workspace and ssh gets in."""
    deadline = time.monotonic() + seconds
    while (done := await shell.ssh("tidepool.shell", "true")).returncode != 0:
        assert time.monotonic() < deadline, done.stderr
        await asyncio.sleep(0.5)


async def test_ssh_scp_rsync_and_a_forwarded_port_through_the_front_door(tmp_path: Path) -> None:
    async with shell(tmp_path) as box:
        await until_in(box)
        done = await box.ssh("tidepool.shell", "echo ok")
        assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
        assert (await box.ssh("tidepool.shell", "exit 7")).returncode == 7
        # Root on the host: no URL, no token; the control plane is asked over its socket.
        on_host = f"ProxyCommand={sys.executable} -m tidepool.cli ssh --stdio %h"
        host_argv = [*box.ssh_argv(), "-o", on_host, "tidepool.shell", "echo host-ok"]
        done = await run(host_argv, {**box.serve.env(), "HOME": str(box.home)})
        assert (done.returncode, done.stdout) == (0, "host-ok\n"), done.stderr

        big = tmp_path / "big"
        big.write_bytes(os.urandom(10 * 1024 * 1024))
        back = tmp_path / "back"
        scp = [*box.ssh_argv("scp"), "-q"]
        for argv in ([str(big), "tidepool.shell:/tmp/big"], ["tidepool.shell:/tmp/big", str(back)]):
            copied = await run([*scp, *argv], box.env())
            assert copied.returncode == 0, copied.stderr
        assert back.read_bytes() == big.read_bytes()

        tree = tmp_path / "tree"
        (tree / "a" / "b").mkdir(parents=True)
        (tree / "a" / "b" / "file").write_text("deep\n")
        (tree / "top").write_text("top\n")
        remote_shell = " ".join(box.ssh_argv())
        synced = await run(
            ["rsync", "-a", "-e", remote_shell, f"{tree}/", "tidepool.shell:tree/"], box.env()
        )
        assert synced.returncode == 0, synced.stderr
        listed = await box.ssh("tidepool.shell", "cat tree/a/b/file tree/top")
        assert listed.stdout == "deep\ntop\n"

        # ssh -L, as VS Code's Remote-SSH uses it: a local port to a server in the workspace.
        server = "python3 -m http.server 9000 --bind 127.0.0.1"
        serving = f"cd /tmp && setsid -f {server} </dev/null >/dev/null 2>&1"
        assert (await box.ssh("tidepool.shell", serving)).returncode == 0
        local = free_port()
        tunnel = await asyncio.create_subprocess_exec(
            *box.ssh_argv(), "-N", "-L", f"{local}:127.0.0.1:9000", "tidepool.shell", env=box.env()
        )
        try:
            page = await fetch_until(f"http://127.0.0.1:{local}/")
            assert "big" in page
        finally:
            tunnel.terminate()
            await tunnel.wait()


async def fetch_until(url: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                return (await http.get(url)).text
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)


async def test_everyone_else_is_refused_before_a_byte_reaches_the_workspace(
    tmp_path: Path,
) -> None:
    async with shell(tmp_path) as box:
        await until_in(box)
        without = await box.ssh("tidepool.shell", "true", who="ann-no-ssh")
        assert without.returncode == 255 and "'ssh' scope" in without.stderr
        bobs = await box.ssh("tidepool.shell", "true", who="bob")
        assert bobs.returncode == 255 and "No workspace named 'shell'" in bobs.stderr
        env = {**box.env(), "TIDEPOOL_TOKEN": ""}
        (box.home / ".config" / "tidepool" / "cli.json").write_text(
            f'{{"url": "{box.serve.base_url}", "token": ""}}'
        )
        nobody = await run([*box.ssh_argv(), "tidepool.shell", "true"], env)
        assert nobody.returncode == 255 and "Sign in required" in nobody.stderr
        audit = await asyncio.to_thread(
            tidepool, "audit", "--action", "workspace.ssh", env=box.serve.env()
        )
        assert audit.stdout.count("denied") >= 2, audit.stdout


async def test_an_open_session_outlives_a_route_change_and_a_service_restart(
    tmp_path: Path,
) -> None:
    async with shell(tmp_path) as box:
        await until_in(box)
        session = await asyncio.create_subprocess_exec(
            *box.ssh_argv(),
            "-tt",
            "tidepool.shell",
            env=box.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert session.stdin is not None and session.stdout is not None
        output = bytearray()

        async def answers(question: str, answer: str) -> None:
            session.stdin.write(f"echo $(({question}))\n".encode())  # type: ignore[union-attr]
            async with asyncio.timeout(20):
                while answer.encode() not in output:
                    output.extend(await session.stdout.read(4096))  # type: ignore[union-attr]

        await answers("40 + 2", "42")
        routes = box.serve.route_table()
        await routes.add("elsewhere", "10.0.0.9")
        await routes.remove("elsewhere")
        await answers("40 + 3", "43")
        restarted = await asyncio.to_thread(tidepool, "service", "restart", env=box.serve.env())
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        await answers("40 + 4", "44")
        # The open tunnel keeps the workspace up: the activity says so (issue: idle stops).
        async with box.serve.api(user="ann") as api:
            async with asyncio.timeout(20):
                while not any(
                    seen["signal"] == "ssh"
                    for seen in ((await api.get("shell")).get("activity") or {}).get("now", [])
                ):
                    await asyncio.sleep(0.5)
        session.stdin.write(b"exit 5\n")
        assert await asyncio.wait_for(session.wait(), 20) == 5
