"""The crash-loop backoff (``domain.restarts``) and what status says (``domain.front_door``)."""

from __future__ import annotations

import pytest

from tidepool.domain.front_door import FrontDoorState, Phase, describe
from tidepool.domain.restarts import Death, RestartPolicy, Restarts

POLICY = RestartPolicy()
KILLED = Death(signal="SIGKILL")


@pytest.mark.parametrize(
    ("deaths", "delay"),
    [(1, 0.0), (2, 0.0), (3, 1.0), (4, 2.0), (5, 4.0), (6, 8.0), (7, 16.0), (8, 30.0),
     (9, 30.0), (10**6, 30.0)],
)  # fmt: skip
def test_the_first_deaths_wait_nothing_then_each_waits_twice_as_long_up_to_30_s(
    deaths: int, delay: float
) -> None:
    assert POLICY.delay(deaths) == delay


def test_a_crash_loop_waits_longer_each_time_and_counts_its_span() -> None:
    restarts, now, waits = Restarts(), 100.0, []
    for _ in range(5):
        restarts = restarts.died(KILLED, now, POLICY)
        waits.append(restarts.wait(now))
        now += restarts.wait(now) + 0.5  # started after the wait, died half a second later
        restarts = restarts.started(now - 0.5)
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0]
    assert restarts.deaths == 5 and restarts.last == KILLED
    assert restarts.span == pytest.approx(0.5 * 4 + 1 + 2)
    assert restarts.next_start_at is None, "started: nothing to wait for"


def test_the_wait_runs_down_with_the_clock() -> None:
    restarts = Restarts()
    for _ in range(4):
        restarts = restarts.died(KILLED, 10.0, POLICY)
    assert restarts.wait(10.0) == 2.0
    assert restarts.wait(11.5) == 0.5
    assert restarts.wait(13.0) == 0.0


def test_a_front_door_that_stays_up_a_minute_starts_a_new_count() -> None:
    restarts = Restarts()
    for _ in range(4):
        restarts = restarts.died(KILLED, 0.0, POLICY)
    restarts = restarts.started(2.0)
    assert restarts.settled(61.0, POLICY).deaths == 4, "not up long enough yet"
    assert restarts.settled(62.0, POLICY) == Restarts(up_since=2.0)
    again = restarts.died(KILLED, 62.0, POLICY)  # settled or not, this is a first death
    assert again.deaths == 1 and again.wait(62.0) == 0.0 and again.first_at == 62.0


def test_a_failed_start_counts_as_a_death() -> None:
    restarts = Restarts()
    for _ in range(3):
        restarts = restarts.died(Death(failed_start="port 8080 in use"), 5.0, POLICY)
    assert restarts.wait(5.0) == 1.0
    assert restarts.last is not None
    assert restarts.last.cause == "did not start: port 8080 in use"


@pytest.mark.parametrize(
    ("death", "cause"),
    [
        (Death(signal="SIGKILL"), "killed by SIGKILL (out of memory or killed by hand)"),
        (
            Death(signal="SIGKILL", out_of_memory=True),
            "killed by SIGKILL: out of memory (its cgroup's OOM killer)",
        ),
        (
            Death(signal="SIGKILL", out_of_memory=False),
            "killed by SIGKILL (not out of memory: killed by hand or by a program)",
        ),
        (Death(signal="SIGSEGV", out_of_memory=False), "killed by SIGSEGV"),
        (Death(exit_code=1), "exited with code 1"),
        (Death(failed_start="no"), "did not start: no"),
        (Death(out_of_memory=True), "gone: out of memory (its cgroup's OOM killer)"),
        (Death(), "gone (not started by this process, so how it ended is unknown)"),
    ],
)
def test_each_death_says_what_ended_it(death: Death, cause: str) -> None:
    assert death.cause == cause


@pytest.mark.parametrize(
    ("state", "lines"),
    [
        (FrontDoorState(Phase.UP, pid=42), ["Caddy is up (pid 42)."]),
        (
            FrontDoorState(Phase.UP, pid=42, deaths=5, span_seconds=40.2, last_cause="x"),
            ["Caddy is up again (pid 42) after it crashed 5 times in 40 s (last: x)."],
        ),
        (
            FrontDoorState(Phase.RESTARTING, deaths=1, last_cause="killed by SIGKILL"),
            ["Caddy crashed once (last: killed by SIGKILL); starting it again now."],
        ),
        (
            FrontDoorState(Phase.RESTARTING, reason="its config inputs changed"),
            ["Caddy is being restarted (its config inputs changed)."],
        ),
        (
            FrontDoorState(
                Phase.BACKING_OFF,
                deaths=4,
                span_seconds=12.0,
                last_cause="killed by SIGKILL",
                next_start_at=1008.0,
            ),
            ["Caddy crashed 4 times in 12 s (last: killed by SIGKILL); next start in 8 s."],
        ),
        (
            FrontDoorState(
                Phase.BACKING_OFF,
                deaths=3,
                span_seconds=0.4,
                last_cause="exited with code 1",
                last_lines=("error: loading config: bad", "info: shutdown"),
                next_start_at=990.0,  # overdue: never a negative wait
            ),
            [
                "Caddy crashed 3 times in 0.4 s (last: exited with code 1); next start in 0.0 s.",
                "Caddy's last log lines before it went down:",
                "  error: loading config: bad",
                "  info: shutdown",
            ],
        ),
    ],
)
def test_status_says_how_the_front_door_is_doing(state: FrontDoorState, lines: list[str]) -> None:
    assert describe(state, now=1000.0) == lines
