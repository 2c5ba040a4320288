"""The reconciler and worker against in-memory fakes: convergence, failure, recovery, drift."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.domain.identity import HOST, Identity
from tidepool.domain.templates import Size
from tidepool.domain.workspace import Action, Status
from tidepool.errors import ConflictError, NotFoundError
from tidepool.ports import InstanceStatus, JobQueue, WorkspaceStore
from tidepool.services.placing import Placing
from tidepool.services.reconcile import (
    CREATE_STEPS,
    DELETE_STEPS,
    STOP_STEPS,
    ReconcileLimits,
    Reconciler,
)
from tidepool.services.resync import resync
from tidepool.services.worker import Worker, WorkerSettings
from tidepool.services.workspaces import WorkspaceService, instance_name
from tidepool.store.memory import memory_store


def user(name: str) -> Identity:
    return Identity(name, admin=False)


IMAGE = "tidepool-workspace"
#: The installation these planes are: what their instances record, and their resyncs prove.
INSTALLATION = "0123456789abcdef0123456789abcdef"


def healthy_ide() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))


@dataclass
class Plane:
    store: WorkspaceStore
    queue: JobQueue
    runtime: InMemoryRuntime
    routes: InMemoryRouteTable
    service: WorkspaceService
    worker: Worker
    reconciler: Reconciler

    async def drain(self, limit: int = 50) -> None:
        """Run due jobs until none is left (bounded)."""
        for _ in range(limit):
            if not await self.worker.run_once():
                return
        raise AssertionError("jobs kept coming")


def build(
    runtime: InMemoryRuntime | None = None,
    http: httpx.AsyncClient | None = None,
    max_attempts: int = 3,
    reached: Callable[[str], None] = lambda _: None,
    placing: Placing | None = None,
) -> Plane:
    store, queue = memory_store()
    runtime = runtime or InMemoryRuntime(images=[IMAGE])
    routes = InMemoryRouteTable()
    reconciler = Reconciler(
        store,
        runtime,
        routes,
        http or healthy_ide(),
        ReconcileLimits(ide_timeout=0.5, boot_timeout=0.5),
        reached=reached,
        installation=INSTALLATION,
        placing=placing,
    )
    worker = Worker(
        store,
        queue,
        runtime,
        routes,
        reconciler,
        WorkerSettings(
            base_backoff=0,
            max_backoff=0,
            max_attempts=max_attempts,
            lease_seconds=30,
            installation=INSTALLATION,
        ),
    )
    service = WorkspaceService(store, default_image=IMAGE)
    return Plane(store, queue, runtime, routes, service, worker, reconciler)


@pytest.fixture
async def plane() -> AsyncIterator[Plane]:
    yield build()


async def test_create_converges_to_running_with_a_live_route(plane: Plane) -> None:
    created = await plane.service.create("dev1", who=user("ann"))
    assert created.status is Status.PENDING
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert workspace.status is Status.RUNNING
    assert plane.routes.routes == {"dev1": workspace.address}
    instance = plane.runtime.instances[instance_name(workspace)]
    assert instance.status is InstanceStatus.RUNNING
    events = await plane.store.events(workspace.id)
    statuses = [e.value for e in events if e.kind == "status"]
    phases = [e.value for e in events if e.kind == "phase"]
    assert statuses == ["pending", "creating", "starting", "running"]
    assert phases == ["instance_created", "booted", "ide_healthy", "named", "route_live"]


async def test_running_means_the_ide_answers_and_the_route_is_live() -> None:
    unhealthy = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    plane = build(http=unhealthy, max_attempts=2)
    await plane.service.create("sick", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("sick", who=HOST)
    assert workspace.status is Status.FAILED
    assert "not healthy" in workspace.error and "2 attempts" in workspace.error
    assert plane.routes.routes == {}


async def test_a_slow_runtime_still_converges() -> None:
    plane = build(InMemoryRuntime(images=[IMAGE], delay=0.02))
    await plane.service.create("slow", who=user("ann"))
    await plane.drain()
    assert (await plane.service.get("slow", who=HOST)).status is Status.RUNNING


async def test_a_permanent_failure_is_recorded_and_start_again_recovers() -> None:
    plane = build(InMemoryRuntime(images=[IMAGE], fail_on="start", fail_times=1))
    await plane.service.create("flaky", who=user("ann"))
    await plane.drain()
    failed = await plane.service.get("flaky", who=HOST)
    assert failed.status is Status.FAILED
    assert "Injected failure at 'start'" in failed.error
    await plane.service.request("flaky", Action.START, who=HOST)
    await plane.drain()
    assert (await plane.service.get("flaky", who=HOST)).status is Status.RUNNING
    assert len(plane.runtime.instances) == 1, "one instance, never two"
    # Its create had finished (only the start failed): it is started as it is, not made again.
    steps = [step for step, _ in plane.runtime.calls]
    assert steps.count("create") == 1 and "delete" not in steps


async def test_an_instance_that_ever_booted_is_never_made_again() -> None:
    """A workspace that ran once holds the user's files: a failed start keeps its instance."""
    runtime = InMemoryRuntime(images=[IMAGE])
    plane = build(runtime)
    await plane.service.create("keeper", who=user("ann"))
    await plane.drain()
    await plane.service.request("keeper", Action.STOP, who=HOST)
    await plane.drain()
    workspace = await plane.service.get("keeper", who=HOST)
    await plane.reconciler.mark_failed(workspace.id, "something broke")
    await plane.service.request("keeper", Action.START, who=HOST)
    await plane.drain()
    assert (await plane.service.get("keeper", who=HOST)).status is Status.RUNNING
    steps = [step for step, _ in runtime.calls]
    assert steps.count("create") == 1 and "delete" not in steps


async def test_a_missing_image_fails_with_a_clear_message(plane: Plane) -> None:
    await plane.service.create("noimg", who=user("ann"), image="nope")
    await plane.drain()
    failed = await plane.service.get("noimg", who=HOST)
    assert failed.status is Status.FAILED
    assert "nope" in failed.error


async def test_a_transient_proxy_outage_is_retried(plane: Plane) -> None:
    plane.routes.unavailable = True
    await plane.service.create("later", who=user("ann"))
    assert await plane.worker.run_once()
    assert (await plane.service.get("later", who=HOST)).status is Status.STARTING
    plane.routes.unavailable = False
    await plane.drain()
    assert (await plane.service.get("later", who=HOST)).status is Status.RUNNING


async def test_stop_then_start_then_delete_and_the_name_is_free_again(plane: Plane) -> None:
    await plane.service.create("cycle", who=user("ann"))
    await plane.drain()
    await plane.service.request("cycle", Action.STOP, who=HOST)
    await plane.drain()
    stopped = await plane.service.get("cycle", who=HOST)
    assert stopped.status is Status.STOPPED and plane.routes.routes == {}
    await plane.service.request("cycle", Action.START, who=HOST)
    await plane.drain()
    assert (await plane.service.get("cycle", who=HOST)).status is Status.RUNNING
    await plane.service.request("cycle", Action.DELETE, who=HOST)
    await plane.service.request("cycle", Action.DELETE, who=HOST)  # harmless
    await plane.drain()
    with pytest.raises(NotFoundError):
        await plane.service.get("cycle", who=HOST)
    assert plane.runtime.instances == {} and plane.routes.routes == {}
    again = await plane.service.create("cycle", who=user("ann"))
    assert again.status is Status.PENDING


async def test_an_action_the_status_forbids_is_a_conflict_naming_both(plane: Plane) -> None:
    await plane.service.create("busy", who=user("ann"))
    await plane.drain()
    with pytest.raises(ConflictError, match=r"start.*running"):
        await plane.service.request("busy", Action.START, who=HOST)
    with pytest.raises(ConflictError):
        await plane.service.create("busy", who=user("bob"))


async def test_concurrent_actions_are_serialized_and_neither_is_lost(plane: Plane) -> None:
    await plane.service.create("race", who=user("ann"))
    await plane.drain()
    await asyncio.gather(
        plane.service.request("race", Action.STOP, who=HOST),
        plane.service.request("race", Action.DELETE, who=HOST),
    )
    workspace = await plane.store.get("race")
    assert workspace.desired.value == "deleted"
    requests = [e.value for e in await plane.store.events(workspace.id) if e.kind == "request"]
    assert sorted(requests) == ["delete", "stop"]


async def test_resync_repairs_a_restarted_proxy_and_reports_a_vanished_instance(
    plane: Plane,
) -> None:
    for name in ("one", "two"):
        await plane.service.create(name, who=user("ann"))
    await plane.drain()
    two = await plane.service.get("two", who=HOST)
    plane.routes.restart()  # the proxy forgot everything
    del plane.runtime.instances[instance_name(two)]  # an instance deleted behind our back
    await plane.routes.add("ghost", "10.9.9.9")
    report = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert report.routes_restored == ["one"]
    assert report.vanished == ["two"]
    assert report.orphan_routes_removed == ["ghost"]
    assert set(plane.routes.routes) == {"one"}
    assert (await plane.service.get("two", who=HOST)).status is Status.FAILED


async def test_an_instance_stopped_behind_our_back_is_started_again(plane: Plane) -> None:
    await plane.service.create("nap", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("nap", who=HOST)
    plane.runtime.crash(instance_name(workspace))
    report = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert report.requeued == ["nap"]
    await plane.drain()
    assert (await plane.service.get("nap", who=HOST)).status is Status.RUNNING


async def test_a_runtime_daemon_down_for_longer_than_every_attempt_fails_nothing() -> None:
    """incusd restarting mid-create: the job waits for it, however many tries that takes,
    and the workspace is never marked failed for it."""
    runtime = InMemoryRuntime(images=[IMAGE])
    plane = build(runtime, max_attempts=2)
    await plane.service.create("patient", who=user("ann"))
    runtime.daemon_down = True
    for _ in range(6):  # three times max_attempts
        assert await plane.worker.run_once()
        workspace = await plane.service.get("patient", who=HOST)
        assert workspace.status is not Status.FAILED, workspace.error
        assert workspace.error.startswith("Waiting for the runtime: Cannot reach")
    events = await plane.store.events(workspace.id, after=0)
    waiting = [e for e in events if e.kind == "waiting"]
    assert [e.value for e in waiting] == ["runtime_unavailable"], "said once, not per attempt"
    runtime.daemon_down = False
    await plane.drain()
    workspace = await plane.service.get("patient", who=HOST)
    assert workspace.status is Status.RUNNING and workspace.error == ""


async def test_every_step_boundary_is_reported_in_order() -> None:
    """What the crash sweep kills serve at: each boundary, once, in the order it is crossed."""
    seen: list[str] = []
    plane = build(reached=seen.append)
    await plane.service.create("steps", who=user("ann"))
    await plane.drain()
    assert tuple(seen) == CREATE_STEPS
    seen.clear()
    await plane.service.request("steps", Action.STOP, who=HOST)
    await plane.drain()
    assert tuple(seen) == STOP_STEPS
    seen.clear()
    await plane.service.request("steps", Action.START, who=HOST)
    await plane.drain()
    assert tuple(seen) == CREATE_STEPS[2:], "a start is a create without making the instance"
    seen.clear()
    await plane.service.request("steps", Action.DELETE, who=HOST)
    await plane.drain()
    assert tuple(seen) == DELETE_STEPS


async def test_a_worker_handed_back_at_a_restart_gives_its_jobs_to_the_next_at_once() -> None:
    """``hand_back`` stops the job half-way and releases its lease: a next worker claims it
    now (not after the lease), and finishes the workspace."""
    plane = build(InMemoryRuntime(images=[IMAGE], ipv4_delay=0.3))
    await plane.service.create("moving", who=user("ann"))
    stop = asyncio.Event()
    running = asyncio.create_task(plane.worker.run(stop))
    while (await plane.service.get("moving", who=HOST)).status is not Status.STARTING:
        await asyncio.sleep(0.01)  # the job is in flight, waiting for an address
    running.cancel()
    assert await plane.worker.hand_back() == 1
    assert await plane.worker.run_once(), "the job was claimable again at once"
    await plane.drain()
    assert (await plane.service.get("moving", who=HOST)).status is Status.RUNNING


async def test_the_instance_gets_the_workspaces_size_or_the_platforms(plane: Plane) -> None:
    await plane.service.create("sized", who=user("ann"), size=Size(1, 512, 4))
    await plane.service.create("plain", who=user("ann"))
    await plane.drain()
    sized = plane.runtime.instances[instance_name(await plane.service.get("sized", who=HOST))]
    plain = plane.runtime.instances[instance_name(await plane.service.get("plain", who=HOST))]
    assert (sized.cpus, sized.memory_mib, sized.disk_gib) == (1, 512, 4)
    assert (plain.cpus, plain.memory_mib, plain.disk_gib) == (
        ReconcileLimits().cpus,
        ReconcileLimits().memory_mib,
        None,
    )


async def test_an_instance_deleted_while_seen_stopped_fails_its_workspace_as_vanished(
    plane: Plane,
) -> None:
    """A delete by hand stops the instance before it removes it: a resync in between sees a
    stop and queues a start, which then finds nothing. The user reads why, not Incus's 404."""
    await plane.service.create("gone", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("gone", who=HOST)
    plane.runtime.crash(instance_name(workspace))  # the delete's stop, seen by the resync
    report = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert report.requeued == ["gone"]
    del plane.runtime.instances[instance_name(workspace)]  # and then the delete itself
    await plane.drain()
    failed = await plane.service.get("gone", who=HOST)
    assert failed.status is Status.FAILED
    assert failed.error == "The workspace's instance vanished outside Tidepool."
