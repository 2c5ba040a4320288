"""One suite over the fake front door and the real CaddyFrontDoor (``ports.FrontDoor``)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from support.ports import free_port
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.front_door import CaddyFrontDoor
from tidepool.adapters.caddy.process import CaddyProcess
from tidepool.adapters.fakes.front_door import FakeFrontDoor
from tidepool.ports import FrontDoor

#: Kills the front door whose pid it is given, as ``kill -9`` does.
Kill = Callable[[int], None]


@pytest.fixture(params=["fake", pytest.param("caddy", marks=pytest.mark.caddy)])
async def door(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[FrontDoor, Kill]]:
    if request.param == "fake":
        fake = FakeFrontDoor()
        yield fake, lambda _: fake.die()
        return
    options = CaddyOptions(
        admin_socket=tmp_path / "admin.sock",
        storage_dir=tmp_path / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
    )
    real = CaddyFrontDoor(
        CaddyProcess(options, tmp_path),
        CaddyAdmin.over_unix_socket(options.admin_socket),
        lambda: options,
    )
    try:
        yield real, lambda pid: os.kill(pid, signal.SIGKILL)
    finally:
        await real.stop()
        await real.aclose()


async def gone(door: FrontDoor) -> None:
    for _ in range(100):
        if door.pid() is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed front door still has a pid")


async def test_start_stop_and_a_stop_is_no_death(door: tuple[FrontDoor, Kill]) -> None:
    front, _ = door
    assert front.pid() is None and front.last_death() is None
    assert await front.start() is True
    pid = front.pid()
    assert pid is not None
    assert await front.start() is False, "it runs: nothing started"
    assert front.pid() == pid
    assert await front.stop() is True
    assert front.pid() is None and await front.stop() is False
    assert front.last_death() is None


async def test_a_killed_front_door_is_gone_says_how_and_starts_again(
    door: tuple[FrontDoor, Kill],
) -> None:
    front, kill = door
    await front.start()
    first = front.pid()
    assert first is not None
    kill(first)
    await gone(front)  # a zombie counts as gone
    death = front.last_death()
    assert death is not None and death.signal == "SIGKILL" and death.exit_code is None
    assert death.cause.startswith("killed by SIGKILL")
    assert await front.start() is True
    assert front.pid() not in (None, first)
    assert front.last_death() is None, "a new one has not died"
