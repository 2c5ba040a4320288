"""The activity watch over fakes: what keeps a workspace up, the warning, the idle stop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tidepool.domain.activity import IdlePolicy, Signal
from tidepool.domain.names import WorkspaceName
from tidepool.domain.work import Process
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.ports import ExecResult
from tidepool.ports.activity import Observation, Watched
from tidepool.services.activity import ActivityWatch
from tidepool.services.workspaces import WorkspaceService, instance_name
from tidepool.store.memory import memory_store

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
POLICY = IdlePolicy(timeout=timedelta(minutes=30), warning=timedelta(minutes=5))
SLEEP = Process(pid=80, ppid=1, uid=1000, argv=("sleep", "600"))


class Probe:
    def __init__(self) -> None:
        self.seen: dict[str, Observation] = {}

    async def observe(self, watched: Sequence[Watched]) -> Mapping[str, Observation]:
        return {w.instance: self.seen[w.instance] for w in watched if w.instance in self.seen}

    async def aclose(self) -> None:
        pass


class Terminals:
    """The runtime as far as the watch uses it: writing the notice to terminals."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    async def exec(self, name: str, argv: Sequence[str], **_: Any) -> ExecResult:
        self.notices.append((name, argv[-1]))
        return ExecResult(0, "", "")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def parts() -> tuple[Any, ...]:
    store = memory_store()[0]
    service = WorkspaceService(store, default_image="img")
    probe, terminals, clock = Probe(), Terminals(), Clock()
    watch = ActivityWatch(
        store,
        probe,
        service,
        terminals,
        lambda _: POLICY,
        clock,
        interval=30,  # type: ignore[arg-type]
    )
    return store, probe, terminals, clock, watch


async def running(store: Any, name: str, **fields: Any) -> Workspace:
    workspace = Workspace(
        name=WorkspaceName(name),
        owner="ann",
        image="img",
        status=Status.RUNNING,
        address="10.0.0.2",
        **fields,
    )
    return await store.add(workspace)  # type: ignore[no-any-return]


async def test_nothing_seen_for_the_timeout_is_warned_then_stopped_as_idle(
    parts: tuple[Any, ...],
) -> None:
    store, _, terminals, clock, watch = parts
    workspace = await running(store, "quiet")
    assert await watch.look() == []  # the first look starts the clock
    clock.now = T0 + timedelta(minutes=26)
    assert await watch.look() == []
    assert terminals.notices and "will stop at 2026-12-07T09:30:00" in terminals.notices[0][1]
    clock.now = T0 + timedelta(minutes=27)
    await watch.look()
    assert len(terminals.notices) == 1  # warned once
    clock.now = T0 + timedelta(minutes=30)
    assert await watch.look() == ["quiet"]

    stopped = await store.get("quiet")
    assert (stopped.desired, stopped.stop_reason) == (Desired.STOPPED, "idle")
    events = [(e.kind, e.value) for e in await store.events(workspace.id)]
    assert events.index(("idle", "warning")) < events.index(("idle", "stop"))
    assert ("request", "stop") in events


async def test_running_work_is_evidence_at_every_look(parts: tuple[Any, ...]) -> None:
    store, probe, _, clock, watch = parts
    workspace = await running(store, "busy")
    probe.seen[instance_name(workspace)] = Observation(processes=[SLEEP])
    for minutes in (0, 20, 40, 60, 90):
        clock.now = T0 + timedelta(minutes=minutes)
        assert await watch.look() == []
    activity = watch.activity(workspace.id)
    assert activity is not None
    assert (activity.last.signal, activity.last.detail) == (Signal.WORK, "sleep 600")
    assert activity.idle_stop_at == clock.now + timedelta(minutes=30)


async def test_a_connection_an_ssh_tunnel_or_a_keepalive_keep_it_up(
    parts: tuple[Any, ...],
) -> None:
    store, probe, _, clock, watch = parts
    tab = await running(store, "tab")
    tunnel = await running(store, "tunnel")
    kept = await running(store, "kept", keepalive_until=T0 + timedelta(hours=3))
    probe.seen[instance_name(tab)] = Observation(connections={8080: 1})
    probe.seen[instance_name(tunnel)] = Observation(ssh_tunnels=1)
    for minutes in (0, 45, 90):
        clock.now = T0 + timedelta(minutes=minutes)
        assert await watch.look() == []
    signals = {
        w.name: watch.activity(w.id).last.signal  # type: ignore[union-attr]
        for w in (tab, tunnel, kept)
    }
    assert signals == {"tab": Signal.CONNECTION, "tunnel": Signal.SSH, "kept": Signal.KEEPALIVE}
    # Past the keepalive and the timeout after it: stopped.
    clock.now = T0 + timedelta(hours=3, minutes=31)
    assert await watch.look() == ["kept"]


async def test_the_ide_heartbeat_counts_from_when_it_beat(parts: tuple[Any, ...]) -> None:
    store, probe, _, clock, watch = parts
    workspace = await running(store, "ide")
    probe.seen[instance_name(workspace)] = Observation(ide_heartbeat=T0 + timedelta(minutes=10))
    await watch.look()
    clock.now = T0 + timedelta(minutes=39)
    assert await watch.look() == []
    clock.now = T0 + timedelta(minutes=40)
    assert await watch.look() == ["ide"]


async def test_activity_after_a_warning_clears_it(parts: tuple[Any, ...]) -> None:
    store, probe, terminals, clock, watch = parts
    workspace = await running(store, "back")
    await watch.look()
    clock.now = T0 + timedelta(minutes=26)
    await watch.look()
    probe.seen[instance_name(workspace)] = Observation(connections={8080: 1})
    clock.now = T0 + timedelta(minutes=28)
    await watch.look()
    probe.seen.clear()
    clock.now = T0 + timedelta(minutes=54)
    await watch.look()
    assert len(terminals.notices) == 2  # warned again, for the new idle period
    clock.now = T0 + timedelta(minutes=57)
    assert await watch.look() == []
    clock.now = T0 + timedelta(minutes=58)
    assert await watch.look() == ["back"]


async def test_no_policy_means_no_idle_stop(parts: tuple[Any, ...]) -> None:
    store, probe, terminals, clock, _ = parts
    service = WorkspaceService(store, default_image="img")
    watch = ActivityWatch(store, probe, service, terminals, lambda _: None, clock, interval=30)  # type: ignore[arg-type]
    await running(store, "forever")
    clock.now = T0 + timedelta(days=3)
    assert await watch.look() == []


async def test_a_stopped_workspace_leaves_the_board(parts: tuple[Any, ...]) -> None:
    store, _, _, _, watch = parts
    workspace = await running(store, "gone")
    await watch.look()
    assert watch.activity(workspace.id) is not None
    current = await store.get("gone")
    await store.save(replace(current, status=Status.STOPPED, desired=Desired.STOPPED))
    await watch.look()
    assert watch.activity(workspace.id) is None


async def test_the_version_moves_when_activity_does(parts: tuple[Any, ...]) -> None:
    store, probe, _, clock, watch = parts
    workspace = await running(store, "moving")
    await watch.look()
    first = watch.version()
    clock.now = T0 + timedelta(seconds=30)
    await watch.look()  # nothing new seen: the same activity
    assert watch.version() == first
    probe.seen[instance_name(workspace)] = Observation(ssh_tunnels=1)
    await watch.look()
    assert watch.version() > first


LIFETIME = IdlePolicy(timeout=timedelta(hours=2), warning=timedelta(minutes=5))


def lifetime_watch(parts: tuple[Any, ...]) -> ActivityWatch:
    """A watch with no idle stop and a longest run of two hours (warned 5 minutes before)."""
    store, probe, terminals, clock, _ = parts
    service = WorkspaceService(store, default_image="img")
    return ActivityWatch(
        store,
        probe,
        service,
        terminals,
        lambda _: None,
        clock,
        30,
        lambda _: LIFETIME,  # type: ignore[arg-type]
    )


async def test_the_longest_run_stops_even_a_working_workspace_after_a_warning(
    parts: tuple[Any, ...],
) -> None:
    store, probe, terminals, clock, _ = parts
    watch = lifetime_watch(parts)
    workspace = await running(store, "long")
    store.state.clock = clock  # the event log's times are the test's
    clock.now = T0 - timedelta(hours=1)
    await store.add_event(workspace.id, "status", "running", "")  # started an hour ago
    probe.seen[instance_name(workspace)] = Observation(processes=[SLEEP])
    clock.now = T0 + timedelta(minutes=50)
    assert await watch.look() == []
    clock.now = T0 + timedelta(minutes=56)
    assert await watch.look() == []
    assert "longest run" in terminals.notices[-1][1]
    clock.now = T0 + timedelta(hours=1)
    assert await watch.look() == ["long"]
    stopped = await store.get("long")
    assert stopped.stop_reason == "max_lifetime"
    events = [(e.kind, e.value) for e in await store.events(workspace.id)]
    assert events.index(("lifetime", "warning")) < events.index(("lifetime", "stop"))


async def test_a_restart_between_two_looks_starts_the_longest_run_again(
    parts: tuple[Any, ...],
) -> None:
    store, _, _, clock, _ = parts
    watch = lifetime_watch(parts)
    store.state.clock = clock
    clock.now = T0 - timedelta(hours=1)
    await running(store, "again")
    await watch.look()
    # Stopped and started again between two looks: a run of its own from then on.
    clock.now = T0 + timedelta(minutes=30)
    current = await store.get("again")
    await store.save(
        replace(current, updated_at=clock.now), event=("status", "running", "restarted")
    )
    clock.now = T0 + timedelta(hours=1)
    assert await watch.look() == []
    clock.now = T0 + timedelta(hours=2, minutes=30)
    assert await watch.look() == ["again"]
    assert (await store.get("again")).stop_reason == "max_lifetime"
