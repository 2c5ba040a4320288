"""A user's SSH keys in their running workspace, against a real serve and Incus.

The keys land in ``~dev/.ssh/authorized_keys`` within seconds of a change (a removed one is
gone within 10 s), at every start, and never at the cost of a line the user wrote by hand.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.serve import ServeProcess, serve_with_workspace
from tidepool import bootstrap
from tidepool.client import ApiClient
from tidepool.ports import Runtime
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus]

HOME = {"HOME": "/home/dev"}
HAND_WRITTEN = 'from="127.0.0.1" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandWrittenByTheUser x'


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ann@laptop", "-f", str(path)],
        check=True,
    )
    return Path(f"{path}.pub").read_text().split()[1]


async def instance_of(serve: ServeProcess, runtime: Runtime, name: str) -> str:
    async with serve.api(user="ann") as api:
        address = (await api.get(name))["address"]
    return next(i.name for i in await runtime.list() if i.ipv4 == address)


#: The file, then the modes and owners of the directory and the file.
SHOW = "cat ~/.ssh/authorized_keys; stat -c '%a %u' ~/.ssh ~/.ssh/authorized_keys"


async def authorized(runtime: Runtime, instance: str) -> str:
    done = await runtime.exec(instance, ["sh", "-c", SHOW], user=1000, env=HOME)
    return done.stdout


async def until(
    runtime: Runtime, instance: str, holds: Callable[[str], bool], seconds: float
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if holds(await authorized(runtime, instance)):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {await authorized(runtime, instance)!r}")


async def test_keys_follow_the_user_into_running_and_started_workspaces(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = f"sqlite:///{tmp_path / 'tp.db'}"
    blob = keygen(tmp_path / "laptop")
    async with (
        serve_with_workspace(data, database, "tpk", "keys", "ann") as serve,
        bootstrap.opened_runtime(get_settings()) as runtime,
    ):
        instance = await instance_of(serve, runtime, "keys")
        mine = f"mkdir -p -m 700 ~/.ssh && echo '{HAND_WRITTEN}' >> ~/.ssh/authorized_keys"
        await runtime.exec(instance, ["sh", "-c", mine], user=1000, env=HOME)

        async with serve.api(user="ann") as api:
            key = await api.add_key((tmp_path / "laptop.pub").read_text(), "laptop")
            took = await until(runtime, instance, lambda text: blob in text, 10)
            text = await authorized(runtime, instance)
            assert HAND_WRITTEN in text and f"{blob} laptop" in text
            assert text.endswith("700 1000\n600 1000\n")
            await api.remove_key(key["id"])
            gone = await until(runtime, instance, lambda text: blob not in text, 10)
            assert HAND_WRITTEN in await authorized(runtime, instance)

            # At a start: the key is there before the workspace is said to run.
            await api.add_key((tmp_path / "laptop.pub").read_text(), "laptop")
            await until(runtime, instance, lambda text: blob in text, 10)
            await runtime.exec(
                instance, ["sh", "-c", "echo > /home/dev/.ssh/authorized_keys"], user=1000
            )
            await wait_for(api, "keys", "stop", "stopped")
            await wait_for(api, "keys", "start", "running")
            instance = await instance_of(serve, runtime, "keys")
            assert blob in await authorized(runtime, instance)

            # The user's file is theirs, whatever it is: a link to an endless device is left
            # alone (never read without end into serve), and keys still reach other files.
            endless = "ln -sf /dev/zero ~/.ssh/authorized_keys"
            await runtime.exec(instance, ["sh", "-c", endless], user=1000, env=HOME)
            second = keygen(tmp_path / "second")
            await api.add_key((tmp_path / "second.pub").read_text(), "second")
            await asyncio.sleep(5)
            link = await runtime.exec(
                instance, ["readlink", "/home/dev/.ssh/authorized_keys"], user=1000
            )
            assert link.stdout.strip() == "/dev/zero"
            assert (await api.get("keys"))["status"] == "running"
            await runtime.exec(instance, ["rm", "/home/dev/.ssh/authorized_keys"], user=1000)
            await until(runtime, instance, lambda text: second in text, 10)
    print(f"key added: in the workspace after {took:.2f} s; removed: gone after {gone:.2f} s")


async def wait_for(api: ApiClient, name: str, action: str, status: str) -> None:
    await api.act(name, action)
    for _ in range(300):
        if (await api.get(name))["status"] == status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} never {status}")
