"""A real Caddy SIGKILLed again and again under the front door's supervisor (no Incus).

The supervisor, the real ``CaddyFrontDoor`` and route table, and a store in memory holding one
running workspace whose IDE is a stand-in upstream on loopback: the same parts ``serve``
wires, at its check interval and restart policy. The first deaths are healed within issue
11's 3 s; from the third in a row the starts are spaced out (1, 2, 4 s); the published state
says why while it waits; once the kills stop, Caddy comes back and the IDE answers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.ports import free_port
from support.upstream import upstream
from tidepool.adapters.caddy import deaths
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.front_door import CaddyFrontDoor
from tidepool.adapters.caddy.process import CaddyProcess
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.domain.front_door import FrontDoorState, Phase, describe
from tidepool.domain.workspace import Status, Workspace
from tidepool.host.front_door_state import FrontDoorStateFile
from tidepool.services.supervisor import FrontDoorSupervisor
from tidepool.store.memory import memory_store

pytestmark = pytest.mark.caddy
#: Issue 11's target for a killed Caddy.
RECOVERY_SECONDS = 3.0
IDE = "127.0.0.31"


@dataclass
class Supervised:
    process: CaddyProcess
    state: FrontDoorStateFile
    http: httpx.AsyncClient

    async def ide_answers(self) -> bool:
        try:
            response = await self.http.get("/workspace/sturdy/")
        except httpx.TransportError:  # refused while Caddy is down
            return False
        return response.status_code == 200 and response.json()["host"] == IDE

    def published(self) -> FrontDoorState | None:
        return self.state.read(os.getpid())  # the supervisor runs in this process


@pytest.fixture
async def supervised(tmp_path: Path) -> AsyncIterator[Supervised]:
    port = free_port()
    options = CaddyOptions(
        admin_socket=tmp_path / "admin.sock",
        storage_dir=tmp_path / "storage",
        listen=f"127.0.0.1:{port}",
        workspace_port=free_port(),
    )
    process = CaddyProcess(options, tmp_path / "caddy")
    door = CaddyFrontDoor(
        process, CaddyAdmin.over_unix_socket(options.admin_socket), lambda: options
    )
    store, _ = memory_store()
    await store.add(
        Workspace(name="sturdy", owner="ann", image="img", status=Status.RUNNING, address=IDE)
    )
    state = FrontDoorStateFile(tmp_path / "front-door.json")
    supervisor = FrontDoorSupervisor(door, store, CaddyRouteTable(options.routes_dir), report=state)
    stop = asyncio.Event()
    async with (
        upstream(IDE, options.workspace_port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http,
    ):
        await supervisor.rebuild()
        watching = asyncio.create_task(supervisor.watch(stop))
        try:
            yield Supervised(process, state, http)
        finally:
            stop.set()
            await watching
            await door.stop()
            await door.aclose()


async def kill_and_time_the_return(caddy: Supervised) -> float:
    """SIGKILL Caddy; the seconds until a new one serves the IDE (at most 30). Returns once
    the supervisor has also finished bringing it back (published it up)."""
    killed = caddy.process.pid()
    assert killed is not None and await caddy.ide_answers()
    os.kill(killed, signal.SIGKILL)
    started = time.monotonic()
    while not (caddy.process.pid() not in (None, killed) and await caddy.ide_answers()):
        assert time.monotonic() - started < 30, "Caddy never came back"
        await asyncio.sleep(0.05)
    recovered = time.monotonic() - started
    await published_up(caddy, killed)
    return recovered


async def published_up(caddy: Supervised, killed: int) -> FrontDoorState:
    """The state once the supervisor has finished bringing back a Caddy other than
    ``killed`` (it answers a little before: its routes are files)."""
    started = time.monotonic()
    while not ((up := caddy.published()) and up.phase is Phase.UP and up.pid != killed):
        assert time.monotonic() - started < 30, "never published as up"
        await asyncio.sleep(0.05)
    return up


async def test_a_caddy_killed_again_and_again_backs_off_says_why_and_comes_back(
    supervised: Supervised,
) -> None:
    first = await kill_and_time_the_return(supervised)
    second = await kill_and_time_the_return(supervised)
    assert first <= RECOVERY_SECONDS and second <= RECOVERY_SECONDS, (first, second)
    third = await kill_and_time_the_return(supervised)  # waits 1 s
    fourth = await kill_and_time_the_return(supervised)  # waits 2 s
    assert third >= 1.0 and fourth >= 2.0, (third, fourth)

    killed = supervised.process.pid()
    assert killed is not None
    os.kill(killed, signal.SIGKILL)  # the fifth in a row: waits 4 s
    started = time.monotonic()
    waiting = None
    while waiting is None or waiting.deaths < 5:
        assert time.monotonic() - started < RECOVERY_SECONDS, "the backoff was not published"
        await asyncio.sleep(0.05)
        waiting = supervised.published()
        waiting = waiting if waiting and waiting.phase is Phase.BACKING_OFF else None
    assert not await supervised.ide_answers(), "backing off: nothing started yet"
    readable = deaths.oom_counter_file(os.getpid()) is not None  # Caddy shares our cgroup
    assert waiting.last_cause == (
        "killed by SIGKILL (not out of memory: killed by hand or by a program)"
        if readable
        else "killed by SIGKILL (out of memory or killed by hand)"
    )
    assert waiting.last_lines, "what Caddy wrote before it died"
    said = describe(waiting, time.time())[0]
    assert said.startswith("Caddy crashed 5 times in ") and "next start in" in said, said
    assert waiting.next_start_at is not None and waiting.next_start_at > time.time() + 2

    while not await supervised.ide_answers():
        assert time.monotonic() - started < 4.0 + 10, "Caddy never came back"
        await asyncio.sleep(0.05)
    fifth = time.monotonic() - started
    assert fifth >= 4.0, fifth
    up = await published_up(supervised, killed)
    assert up.deaths == 5 and up.pid == supervised.process.pid()
