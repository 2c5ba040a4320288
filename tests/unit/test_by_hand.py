"""The by-hand commands and the platform on one set of records, with in-memory fakes wired by
``bootstrap.build``: what ``vm start`` and ``route add`` make, the worker and the resync keep;
both working on one workspace at once converge; a resync never takes a workspace created
during its pass for an orphan; the front-door supervisor brings a dead Caddy back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from tidepool import bootstrap
from tidepool.adapters.fakes.front_door import FakeFrontDoor
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.bootstrap import Tidepool
from tidepool.domain.identity import Identity
from tidepool.domain.names import WorkspaceName, is_instance_name
from tidepool.domain.routing import Route
from tidepool.domain.workspace import Status
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError
from tidepool.host.service import by_hand_lock, serve_lock
from tidepool.ports import InstanceSpec, InstanceState
from tidepool.services.resync import resync
from tidepool.services.workspaces import instance_name
from tidepool.settings import Settings
from tidepool.store.memory import memory_store


def user(name: str) -> Identity:
    return Identity(name, admin=False)


IMAGE = "tidepool-workspace"
ALICE = WorkspaceName("alice")


def healthy_ide() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Tidepool]:
    settings = Settings(data_dir=tmp_path, image_alias=IMAGE, resync_interval_seconds=30)
    async with (
        healthy_ide() as http,
        bootstrap.build(
            settings,
            runtime=InMemoryRuntime(images=[IMAGE]),
            routes=InMemoryRouteTable(),
            store=memory_store(),
            door=FakeFrontDoor(),
            http=http,
        ) as built,
    ):
        yield built


async def drain(app: Tidepool) -> None:
    worker = app.worker()
    for _ in range(50):
        if not await worker.run_once():
            return
    raise AssertionError("jobs kept coming")


async def test_vm_start_makes_an_ordinary_workspace_named_by_the_one_rule(app: Tidepool) -> None:
    booted = await app.by_hand.start(ALICE)
    assert booted.status is Status.STARTING and booted.address
    assert booted.owner == "local"
    instance = instance_name(booted)
    assert is_instance_name(instance, "ws") and "alice" not in instance
    assert [i.name for i in await app.runtime.list()] == [instance]
    assert await app.routes.entries() == {}, "no route before the IDE answers"

    workspace, added = await app.by_hand.route(ALICE, booted.address)
    assert added and workspace.status is Status.RUNNING
    assert await app.routes.entries() == {"alice": Route(booted.address, "local")}
    await drain(app)  # the job vm start enqueued: the worker finds nothing to do
    report = await resync(app.store, app.runtime, app.routes, installation=app.installation)
    assert not report.changed, report
    assert (await app.store.get(ALICE)).status is Status.RUNNING


async def test_route_add_refuses_an_address_that_is_not_the_instances(app: Tidepool) -> None:
    booted = await app.by_hand.start(ALICE)
    with pytest.raises(InvalidInputError, match=str(booted.address)):
        await app.by_hand.route(ALICE, "10.9.9.9")
    assert await app.routes.entries() == {}
    assert (await app.store.get(ALICE)).status is Status.STARTING, "nothing changed"


async def test_route_remove_stops_and_the_platform_does_not_route_it_back(app: Tidepool) -> None:
    booted = await app.by_hand.start(ALICE)
    assert booted.address
    await app.by_hand.route(ALICE, booted.address)
    stopped = await app.by_hand.unroute(ALICE)
    assert stopped.status is Status.STOPPED
    await drain(app)
    await resync(app.store, app.runtime, app.routes, installation=app.installation)
    assert await app.routes.entries() == {}
    with pytest.raises(NotFoundError, match="no route"):
        await app.by_hand.unroute(ALICE)
    back, added = await app.by_hand.route(ALICE, booted.address)
    assert added and back.status is Status.RUNNING


async def test_delete_says_what_it_removed_and_leaves_nothing(app: Tidepool) -> None:
    booted = await app.by_hand.start(ALICE)
    assert booted.address
    await app.by_hand.route(ALICE, booted.address)
    removed = await app.by_hand.delete(ALICE)
    assert removed.route and removed.instance
    assert await app.runtime.list() == [] and await app.routes.entries() == {}
    with pytest.raises(NotFoundError, match="vm start -n alice"):
        await app.by_hand.delete(ALICE)


async def test_a_command_and_the_worker_on_one_workspace_converge_once(app: Tidepool) -> None:
    booted = await app.by_hand.start(ALICE)
    assert booted.address
    # The worker takes the job `vm start` enqueued while the user routes it by hand.
    await asyncio.gather(drain(app), app.by_hand.route(ALICE, booted.address))
    assert (await app.store.get(ALICE)).status is Status.RUNNING
    assert len(await app.runtime.list()) == 1, "one instance, not two"
    assert await app.routes.entries() == {"alice": Route(booted.address, "local")}


class CreatesDuringList(InMemoryRuntime):
    """A runtime whose instance list is taken while another worker creates a workspace."""

    def __init__(self, app_ref: list[Tidepool]) -> None:
        super().__init__(images=[IMAGE])
        self._app = app_ref

    async def list(self) -> Sequence[InstanceState]:
        if self._app:
            app = self._app.pop()
            created = await app.workspaces.create("bravo", who=user("bob"))
            await self.create(InstanceSpec(name=instance_name(created), image=IMAGE))
        return await super().list()


async def test_resync_never_takes_a_workspace_created_during_its_pass_for_an_orphan(
    tmp_path: Path,
) -> None:
    pending: list[Tidepool] = []
    runtime = CreatesDuringList(pending)
    async with bootstrap.build(
        Settings(data_dir=tmp_path, image_alias=IMAGE),
        runtime=runtime,
        routes=InMemoryRouteTable(),
        store=memory_store(),
        door=FakeFrontDoor(),
    ) as app:
        pending.append(app)
        report = await resync(app.store, app.runtime, app.routes, installation=app.installation)
        assert report.orphan_instances_removed == []
        bravo = await app.store.get("bravo")
        assert [i.name for i in await runtime.list()] == [instance_name(bravo)]


async def test_the_supervisor_brings_a_dead_front_door_back_with_its_routes(
    app: Tidepool,
) -> None:
    door = app.front_door
    assert isinstance(door, FakeFrontDoor)
    booted = await app.by_hand.start(ALICE)
    assert booted.address
    await app.by_hand.route(ALICE, booted.address)
    await app.routes.add("ghost", "10.0.0.77")  # a route no workspace owns
    plan = await app.supervisor.rebuild()
    assert door.pid() is not None
    assert plan.remove == ("ghost",) and not plan.add
    assert await app.routes.entries() == {"alice": Route(booted.address, "local")}

    stop = asyncio.Event()
    app.supervisor._check_seconds = 0.01
    watching = asyncio.create_task(app.supervisor.watch(stop))
    door.die()
    assert isinstance(app.routes, InMemoryRouteTable)
    app.routes.restart()  # it came back without its routes
    door.fail_starts = 1  # and the first attempt fails
    for _ in range(200):
        await asyncio.sleep(0.01)
        if door.pid() is not None and await app.routes.entries():
            break
    assert door.pid() is not None and door.starts == 3, "failed once, then started"
    assert await app.routes.entries() == {"alice": Route(booted.address, "local")}
    starts = door.starts
    door.touch_inputs()  # users changed: today's config must be loaded
    for _ in range(200):
        await asyncio.sleep(0.01)
        if door.starts > starts:
            break
    assert door.starts == starts + 1
    stop.set()
    await watching


async def test_with_the_platform_running_the_worker_does_the_steps(tmp_path: Path) -> None:
    runtime = InMemoryRuntime(images=[IMAGE])
    async with (
        healthy_ide() as http,
        bootstrap.build(
            Settings(data_dir=tmp_path, image_alias=IMAGE),
            runtime=runtime,
            routes=InMemoryRouteTable(),
            store=memory_store(),
            door=FakeFrontDoor(),
            http=http,
            platform_runs=True,
        ) as app,
    ):
        stop = asyncio.Event()
        worker = asyncio.create_task(app.worker().run(stop))
        try:
            booted = await app.by_hand.start(ALICE)
            assert booted.address, "vm start returns once the worker booted it"
            assert len(runtime.instances) == 1
            workspace, _ = await app.by_hand.route(ALICE, booted.address)
            assert workspace.status is Status.RUNNING
            assert (await app.by_hand.stop(ALICE)).status is Status.STOPPED
            removed = await app.by_hand.delete(ALICE)
            assert removed.instance and runtime.instances == {}
        finally:
            stop.set()
            await worker


def test_a_serve_waits_for_a_by_hand_command_and_commands_see_a_serve(tmp_path: Path) -> None:
    with by_hand_lock(tmp_path) as platform_runs:
        assert platform_runs is False
        with pytest.raises(ConflictError), serve_lock(tmp_path, wait=0.3):
            pass  # a command is working on instances: serve waits, then says so
    (tmp_path / "serve.lock").write_text("999999999\n")  # a killed serve's pid
    with serve_lock(tmp_path, wait=0.3):
        with by_hand_lock(tmp_path) as platform_runs:
            assert platform_runs is True
        with pytest.raises(ConflictError, match="Another tidepool serve"), serve_lock(tmp_path):
            pass


def test_a_serve_lets_go_of_its_lock_early_for_the_serve_that_replaces_it(tmp_path: Path) -> None:
    with serve_lock(tmp_path, wait=0.3) as release:
        release()  # a restart: the next serve may start while this one drains its API
        with serve_lock(tmp_path, wait=0.3):
            assert (tmp_path / "serve.lock").read_text().strip() == str(os.getpid())
