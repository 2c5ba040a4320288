"""The front door's supervisor over the fake front door, one ``check`` at a time on a test
clock: a death is healed at once, a crash loop backs off, and every state is published."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidepool.adapters.fakes.front_door import FakeFrontDoor, PublishedStates
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.cli.app import app
from tidepool.domain.front_door import FrontDoorState, Phase
from tidepool.domain.restarts import Death
from tidepool.host.front_door_state import FrontDoorStateFile
from tidepool.host.service import BackgroundService
from tidepool.services.supervisor import FrontDoorSupervisor
from tidepool.store.memory import memory_store

CHECK = 1.0
WALL = 1_000_000.0


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def door() -> FakeFrontDoor:
    return FakeFrontDoor()


@pytest.fixture
def board() -> PublishedStates:
    return PublishedStates()


@pytest.fixture
async def supervisor(
    door: FakeFrontDoor, board: PublishedStates, clock: Clock
) -> FrontDoorSupervisor:
    store, _ = memory_store()
    supervisor = FrontDoorSupervisor(
        door,
        store,
        InMemoryRouteTable(),
        check_seconds=CHECK,
        report=board,
        clock=clock,
        wall=lambda: WALL + clock.now,
    )
    await supervisor.rebuild()
    return supervisor


async def test_a_first_death_is_healed_at_the_next_check_and_published(
    supervisor: FrontDoorSupervisor, door: FakeFrontDoor, board: PublishedStates
) -> None:
    assert await supervisor.check() == CHECK
    first = door.pid()
    assert board.states == [FrontDoorState(Phase.UP, pid=first)]
    door.die()
    assert await supervisor.check() == CHECK, "started again at once"
    assert door.pid() not in (None, first) and door.starts == 2
    cause = "killed by SIGKILL (out of memory or killed by hand)"
    assert board.states[1:] == [
        FrontDoorState(Phase.RESTARTING, deaths=1, last_cause=cause),
        FrontDoorState(Phase.UP, pid=door.pid(), deaths=1, last_cause=cause),
    ]
    assert await supervisor.check() == CHECK
    assert len(board.states) == 3, "nothing changed: nothing published"


async def test_a_crash_loop_backs_off_and_says_why(
    supervisor: FrontDoorSupervisor, door: FakeFrontDoor, board: PublishedStates, clock: Clock
) -> None:
    waits = []
    for _ in range(7):
        door.die(Death(exit_code=1, last_lines=("error bad config",)))
        clock.now += 0.2
        wait = await supervisor.check()
        waits.append(wait if door.pid() is None else 0.0)
        if door.pid() is None:  # backing off: nothing starts before the wait is over
            assert board.last is not None and board.last.phase is Phase.BACKING_OFF
            assert board.last.next_start_at == pytest.approx(WALL + clock.now + wait)
            clock.now += wait - 0.01
            assert await supervisor.check() == pytest.approx(0.01)
            assert door.pid() is None, "not before its time"
            clock.now += 0.01
            assert await supervisor.check() == CHECK
        assert door.pid() is not None
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    backing_off = [s for s in board.states if s.phase is Phase.BACKING_OFF]
    assert [s.deaths for s in backing_off] == [3, 4, 5, 6, 7]
    assert backing_off[-1].last_cause == "exited with code 1"
    assert backing_off[-1].last_lines == ("error bad config",)
    assert backing_off[-1].span_seconds == pytest.approx(0.2 * 6 + 1 + 2 + 4 + 8)
    up = board.last
    assert up is not None and up.phase is Phase.UP and up.deaths == 7


async def test_a_front_door_up_a_minute_is_healthy_again_and_its_next_death_is_a_first(
    supervisor: FrontDoorSupervisor, door: FakeFrontDoor, board: PublishedStates, clock: Clock
) -> None:
    for _ in range(4):
        door.die()
        await supervisor.check()
        clock.now += supervisor.restarts.wait(clock.now)
        await supervisor.check()
    assert supervisor.restarts.deaths == 4
    clock.now += 59.0
    await supervisor.check()
    assert supervisor.restarts.deaths == 4, "not a minute yet"
    clock.now += 1.0
    await supervisor.check()
    assert supervisor.restarts.deaths == 0
    assert board.last == FrontDoorState(Phase.UP, pid=door.pid())
    door.die()
    assert await supervisor.check() == CHECK and door.pid() is not None, "healed at once"


async def test_a_front_door_that_will_not_start_backs_off_too(
    supervisor: FrontDoorSupervisor, door: FakeFrontDoor, board: PublishedStates, clock: Clock
) -> None:
    door.die()
    door.fail_starts = 4
    waits = [await supervisor.check()]
    while door.pid() is None:
        clock.now += waits[-1]
        waits.append(await supervisor.check())
    assert waits == [0.0, 1.0, 2.0, 4.0, CHECK], "the death and a failure at once, then 1, 2, 4 s"
    assert door.starts == 1 + 5
    failed = [s for s in board.states if "did not start" in s.last_cause]
    assert failed and "Injected: the front door did not start." in failed[-1].last_cause


async def test_new_config_inputs_restart_it_at_once_without_counting_a_death(
    supervisor: FrontDoorSupervisor, door: FakeFrontDoor, board: PublishedStates
) -> None:
    await supervisor.check()
    door.touch_inputs()
    assert await supervisor.check() == CHECK
    assert door.starts == 2 and supervisor.restarts.deaths == 0
    assert FrontDoorState(Phase.RESTARTING, reason="its config inputs changed") in board.states


async def test_watch_heals_a_death_on_the_real_clock_and_stops_when_told(
    door: FakeFrontDoor, board: PublishedStates
) -> None:
    store, _ = memory_store()
    supervisor = FrontDoorSupervisor(
        door, store, InMemoryRouteTable(), check_seconds=0.01, report=board
    )
    await supervisor.rebuild()
    stop = asyncio.Event()
    watching = asyncio.create_task(supervisor.watch(stop))
    await asyncio.sleep(0)  # it looked once
    door.die()
    for _ in range(300):
        await asyncio.sleep(0.01)
        if door.pid() is not None:
            break
    stop.set()
    await watching
    assert door.pid() is not None and door.starts == 2
    assert [s.phase for s in board.states] == [Phase.UP, Phase.RESTARTING, Phase.UP]


def test_the_state_file_is_read_only_for_the_serve_that_wrote_it(tmp_path: Path) -> None:
    state = FrontDoorState(
        Phase.BACKING_OFF,
        deaths=4,
        span_seconds=7.5,
        last_cause="killed by SIGKILL",
        last_lines=("info admin stopped",),
        next_start_at=123.5,
    )
    written = FrontDoorStateFile(tmp_path / "front-door.json")
    written.publish(state)
    assert (tmp_path / "front-door.json").stat().st_mode & 0o777 == 0o600
    assert written.read(os.getpid()) == state
    assert written.read(os.getpid() + 1) is None, "a killed serve's file is not today's"
    (tmp_path / "front-door.json").write_text("{")
    assert written.read(os.getpid()) is None


def test_service_status_prints_how_caddy_is_doing_and_still_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(data))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    # A process that looks like `python -m tidepool.cli serve` to the pid check.
    serve = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "tidepool.cli", "serve"]
    )
    try:
        (data / "serve.pid").write_text(f"{serve.pid}\n")
        service = BackgroundService(data, lambda: True)
        for _ in range(100):  # its command line shows once it has exec'd
            if service.pid() is not None:
                break
            time.sleep(0.05)
        assert service.pid() == serve.pid
        FrontDoorStateFile.in_data_dir(data, serve_pid=serve.pid).publish(
            FrontDoorState(
                Phase.BACKING_OFF,
                deaths=4,
                span_seconds=12.0,
                last_cause="killed by SIGKILL",
                next_start_at=4_000_000_000.0,  # far ahead: the wait shown is long
            )
        )
        shown = CliRunner().invoke(app, ["service", "status"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        assert f"Tidepool is running (pid {serve.pid})" in shown.output
        assert "Caddy crashed 4 times in 12 s (last: killed by SIGKILL); next start in" in (
            shown.output
        )
        FrontDoorStateFile.in_data_dir(data, serve_pid=serve.pid).publish(
            FrontDoorState(Phase.UP, pid=777)
        )
        shown = CliRunner().invoke(app, ["service", "status"], terminal_width=200)
        assert shown.exit_code == 0 and "Caddy is up (pid 777)." in shown.output
    finally:
        serve.kill()
        serve.wait()
    shown = CliRunner().invoke(app, ["service", "status"])
    assert shown.exit_code == 3 and "Tidepool is not running." in shown.output
    assert "Caddy" not in shown.output, "a dead serve's Caddy state is not shown"
