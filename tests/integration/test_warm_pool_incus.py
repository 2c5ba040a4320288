"""The warm pool on a real ``serve``, Incus and Caddy: what a pooled workspace is, and a
``serve`` killed while it hands one out.

- Two pooled workspaces share no secret, machine-id, hostname or SSH host key (each has
  them), and a file a previous holder wrote cannot be in a later workspace: pool instances
  are never reused.
- ``serve`` SIGKILLed at each step of the hand-over (``pool_chosen``: the row names the
  instance; ``pool_taken``: the instance names the workspace) converges within 5 s of its
  restart: the workspace runs on an instance that records it, and that instance is no longer
  the pool's; nothing is both, nothing is neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool import bootstrap
from tidepool.domain.pool import pool_key_of
from tidepool.installation import installation_id
from tidepool.ports import InstanceState
from tidepool.services.naming import MACHINE_SETTINGS, machine_settings
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpp"
RECOVERY_SECONDS = 5.0
#: What tells one machine from another, and what a holder could leave behind.
IDENTITY = {
    "machine-id": ["cat", "/etc/machine-id"],
    "hostname": ["hostname"],
    "code-server secret": ["cat", "/home/dev/.config/code-server/config.yaml"],
    "host keys": ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null || true"],
}
LEFT_BEHIND = "/home/dev/left-by-a-holder.txt"


def installation(serve: ServeProcess) -> str:
    return installation_id(serve.data_dir)


async def ours() -> list[InstanceState]:
    async with bootstrap.opened_runtime(get_settings()) as runtime:
        return [i for i in await runtime.list() if i.name.startswith(f"{PREFIX}-")]


async def wait_for_pool(serve: ServeProcess, ready: int, timeout: float = 120) -> set[str]:
    """The names of the pool's instances once its keeper says ``ready`` of them are."""
    deadline = time.monotonic() + timeout
    mark = installation_id(serve.data_dir)
    async with serve.api() as api:
        while True:
            pools = (await api.pool())["items"]
            if pools and pools[0]["ready"] >= ready:
                break
            assert time.monotonic() < deadline, f"the pool is not ready: {pools}"
            await asyncio.sleep(0.2)
    return {i.name for i in await ours() if pool_key_of(i.owner, mark) is not None}


async def instance_of(workspace_id: str) -> InstanceState:
    (found,) = [i for i in await ours() if i.owner and i.owner.workspace_id == workspace_id]
    return found


async def run_in(instance: str, argv: list[str]) -> str:
    async with bootstrap.opened_runtime(get_settings()) as runtime:
        done = await runtime.exec(instance, argv)
        return done.stdout


@contextlib.asynccontextmanager
async def pooled_serve(tmp_path: Path, **env: str) -> AsyncIterator[ServeProcess]:
    serve = ServeProcess(
        tmp_path / "data",
        free_port(),
        f"sqlite:///{tmp_path / 'tp.db'}",
        PREFIX,
        extra_env={"TIDEPOOL_POOL_SIZE": "2", **env},
    )
    serve.start()
    try:
        yield serve
    finally:
        serve.extra_env.pop("TIDEPOOL_CRASH_AT", None)
        if serve.process is None or serve.process.poll() is not None:
            serve.start()
        async with serve.api() as api:
            for workspace in (await api.list())["items"]:
                with contextlib.suppress(Exception):
                    await delete_and_wait(api, workspace["name"])
        serve.stop()
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((serve.data_dir / "caddy" / "caddy.pid").read_text()), signal.SIGTERM)
        async with bootstrap.opened_runtime(get_settings()) as runtime:
            for left in await ours():  # the pool itself: no workspace row names it
                await runtime.delete(left.name)


async def test_pooled_workspaces_share_nothing_and_no_holder_leaves_anything(
    tmp_path: Path,
) -> None:
    async with pooled_serve(tmp_path) as serve, serve.api() as api:
        pool = await wait_for_pool(serve, 2)
        made = [await api.create(name) for name in ("first", "second")]
        seen: dict[str, list[str]] = {what: [] for what in IDENTITY}
        for workspace in made:
            running = await wait_for_status(api, workspace["name"], {"running"}, timeout=120)
            instance = (await instance_of(running["id"])).name
            assert instance in pool, "made from the pool"
            for what, argv in IDENTITY.items():
                seen[what].append(await run_in(instance, argv))
            assert await serve.ide_status(workspace["name"]) == 200
        for what, (one, other) in seen.items():
            assert one != other or not one.strip(), f"two pooled workspaces share their {what}"
        for what in ("machine-id", "host keys"):
            assert all(v.strip() for v in seen[what]), f"each has a {what} of its own"

        holder = await instance_of(made[0]["id"])
        write = f"echo mine > {LEFT_BEHIND}"
        await run_in(holder.name, ["su", "-", "dev", "-c", write])
        await delete_and_wait(api, "first")
        assert holder.name not in {i.name for i in await ours()}, "deleted with its holder"
        refilled = await wait_for_pool(serve, 2)
        assert holder.name not in refilled
        await api.create("third")
        running = await wait_for_status(api, "third", {"running"}, timeout=120)
        third = (await instance_of(running["id"])).name
        assert third in refilled
        gone = await run_in(third, ["sh", "-c", f"test -e {LEFT_BEHIND}; echo $?"])
        assert gone.strip() == "1", "nothing of a previous holder can be there"


@pytest.mark.parametrize("step", ["pool_chosen", "pool_taken"])
async def test_serve_killed_while_handing_out_converges_to_one_owner_within_5_s(
    tmp_path: Path, step: str
) -> None:
    async with pooled_serve(tmp_path) as serve:
        pool = await wait_for_pool(serve, 2)
        serve.stop()
        serve.extra_env["TIDEPOOL_CRASH_AT"] = step
        serve.start()
        assert await wait_for_pool(serve, 2) == pool, "a restarted serve keeps its pool"
        async with serve.api() as api:
            created = await api.create("cut")
        assert serve.process is not None
        serve.process.wait(timeout=120)
        assert serve.process.returncode == -signal.SIGKILL, "serve did not reach the step"
        serve.extra_env.pop("TIDEPOOL_CRASH_AT")
        restarted = time.monotonic()
        serve.start()
        async with serve.api() as api:
            running = await wait_for_status(api, "cut", {"running", "failed"}, timeout=30)
            assert running["status"] == "running", running
            while await serve.ide_status("cut") != 200:
                await asyncio.sleep(0.05)
            took = time.monotonic() - restarted
        print(f"killed at {step}: running after {took:.2f} s")
        assert took <= RECOVERY_SECONDS, f"running {took:.1f} s after the restart"
        holder = await instance_of(created["id"])
        assert holder.name in pool, "the instance it was handed, not a cold one"
        mark = installation(serve)
        still_pooled = {i.name for i in await ours() if pool_key_of(i.owner, mark) is not None}
        assert holder.name not in still_pooled, "both the workspace's and the pool's"
        settings = await run_in(holder.name, ["cat", MACHINE_SETTINGS])
        assert settings.encode() == machine_settings("cut"), "its IDE is named once"
