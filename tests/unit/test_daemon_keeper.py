"""``DaemonKeeper`` over daemons that die on purpose, with a test clock: a death is healed
at once, a crash loop waits longer each time, a start that fails counts, and what it saw is
what ``service status`` says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidepool.errors import HostSetupError
from tidepool.host import daemon_keeper
from tidepool.host.daemon_keeper import DaemonKeeper, Kept, describe
from tidepool.host.steps import StepResult


class Daemon:
    def __init__(self) -> None:
        self.up = True
        self.starts = 0
        self.refuse = False

    def start(self) -> StepResult:
        if self.refuse:
            raise HostSetupError("will not start")
        self.starts += 1
        self.up = True
        return StepResult("d", True, "started")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_dead_daemon_is_started_at_once_then_less_and_less_often(tmp_path: Path) -> None:
    daemon, clock = Daemon(), Clock()
    state = tmp_path / "host-daemons.json"
    keeper = DaemonKeeper([Kept("incusd", lambda: daemon.up, daemon.start)], state, clock=clock)
    await keeper.check()
    assert daemon.starts == 0 and describe(state, os.getpid()) == []

    for _ in range(2):  # the first two deaths: at once
        daemon.up = False
        await keeper.check()
        assert daemon.up
        clock.now += 1
    assert daemon.starts == 2
    assert describe(state, os.getpid()) == ["incusd is up again after it died 2 time(s)."]

    daemon.up = False  # a third death in a row: it waits a second first
    await keeper.check()
    assert not daemon.up and daemon.starts == 2
    [line] = describe(state, os.getpid())
    assert line.startswith("incusd is DOWN; next start in 1 s")
    clock.now += 1
    await keeper.check()
    assert daemon.up and daemon.starts == 3

    clock.now += 61  # up long enough: healthy again
    await keeper.check()
    assert describe(state, os.getpid()) == []
    assert describe(state, os.getpid() + 1) == [], "another serve's file is not today's"


async def test_a_start_that_fails_is_a_death_and_is_said(tmp_path: Path) -> None:
    daemon, clock = Daemon(), Clock()
    state = tmp_path / "host-daemons.json"
    keeper = DaemonKeeper([Kept("lxcfs", lambda: daemon.up, daemon.start)], state, clock=clock)
    daemon.up, daemon.refuse = False, True
    await keeper.check()
    await keeper.check()
    [line] = describe(state, os.getpid())
    assert "lxcfs is DOWN" in line and "did not start: will not start" in line
    daemon.refuse = False
    clock.now += 60
    await keeper.check()
    assert daemon.up


async def test_a_death_counts_even_when_another_serve_started_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``serve``s on one host both keep incusd: the one that comes second to the death
    finds a new incusd already running, and still reports that its incusd died."""
    running = {101}
    monkeypatch.setattr(daemon_keeper, "is_running", lambda pid: pid in running)
    monkeypatch.setattr(daemon_keeper.daemons, "daemon_pids", lambda name: sorted(running))
    seen = daemon_keeper.Seen("incusd", lambda: True)
    assert seen() is True
    running.clear()
    running.add(202)  # killed, and started again by the other serve in between two looks
    starts: list[str] = []

    def start() -> StepResult:
        starts.append("start")
        return StepResult("incusd", False, "running")  # found running: nothing to do

    state = tmp_path / "host-daemons.json"
    keeper = DaemonKeeper([Kept("incusd", seen, start)], state, clock=Clock())
    await keeper.check()
    assert starts == ["start"]
    assert describe(state, os.getpid()) == ["incusd is up again after it died 1 time(s)."]
    await keeper.check()
    assert starts == ["start"], "the new incusd is watched from then on"


async def test_the_first_look_starts_nothing(tmp_path: Path) -> None:
    """``serve`` looks before its API answers: a daemon that is down is not waited on there,
    but left to the checks that follow."""
    daemon, clock = Daemon(), Clock()
    daemon.up = False
    keeper = DaemonKeeper(
        [Kept("incusd", lambda: daemon.up, daemon.start)], tmp_path / "s", clock=clock
    )
    await keeper.look()
    assert daemon.starts == 0
    await keeper.check()
    assert daemon.starts == 1
