"""The warm pool against the in-memory runtime: kept full, taken once, drained, and a
hand-over cut at each of its steps converging to one owner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import pytest

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import FakeInstance, InMemoryRuntime
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.environment import WORKSPACE_ENV_PATH
from tidepool.domain.identity import HOST, Identity
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.pool import PoolSpec, pool_key_of
from tidepool.domain.templates import Size
from tidepool.domain.workspace import Action, Status
from tidepool.ports import ExecResult, InstanceStatus
from tidepool.services.naming import MACHINE_SETTINGS, machine_settings
from tidepool.services.pool import PoolKeeper
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.resync import resync
from tidepool.services.workspaces import WorkspaceService, instance_name
from tidepool.store.memory import memory_store

IMAGE = "tidepool-workspace"
INSTALLATION = "0123456789abcdef0123456789abcdef"
ANN = Identity("ann", admin=False)
SPEC = PoolSpec("default", IMAGE, 2, 2048, None, 2)
#: The size the pool's instances are made with.
FITS = Size(cpus=2, memory_mib=2048)


class Crash(Exception):
    """``serve`` killed at a step boundary."""


class Pooled:
    """A control plane with a warm pool of two, over the in-memory runtime."""

    def __init__(self, spec: PoolSpec = SPEC) -> None:
        self.restarts: list[str] = []
        self.runtime = InMemoryRuntime(images=[IMAGE], exec_handler=self._guest)
        self.store, self.queue = memory_store()
        self.routes = InMemoryRouteTable()
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        self.keeper = PoolKeeper(
            self.runtime,
            [spec],
            http,
            installation=INSTALLATION,
            prefix="ws",
            list_every=1,
            refill_after_take=0,
        )
        self.crash_at = ""
        self.reconciler = Reconciler(
            self.store,
            self.runtime,
            self.routes,
            http,
            ReconcileLimits(cpus=2, memory_mib=2048, ide_timeout=0.5, boot_timeout=0.5),
            reached=self._reached,
            installation=INSTALLATION,
            pool=self.keeper,
        )
        self.service = WorkspaceService(self.store, default_image=IMAGE)

    def _guest(
        self, instance: FakeInstance, argv: Sequence[str], user: int | None, env: Mapping[str, str]
    ) -> ExecResult | None:
        if list(argv[:2]) == ["systemctl", "restart"]:
            self.restarts.append(instance.name)
            return ExecResult(0, "", "")
        return None

    def _reached(self, step: str) -> None:
        if step == self.crash_at:
            self.crash_at = ""
            raise Crash(step)

    def waiting(self) -> list[FakeInstance]:
        return [
            i
            for i in self.runtime.instances.values()
            if pool_key_of(i.owner, INSTALLATION) is not None
        ]

    async def filled(self) -> None:
        """Two passes: the first starts the instances, the second sees them ready."""
        await self.keeper.keep_once()
        await self.keeper.keep_once()

    async def create(self, name: str, size: Size = FITS) -> str:
        workspace = await self.service.create(name, who=ANN, size=size)
        return workspace.id


async def test_the_keeper_fills_each_pool_to_its_size_and_no_one_owns_them() -> None:
    plane = Pooled()
    await plane.filled()
    waiting = plane.waiting()
    assert len(waiting) == 2
    assert all(i.status is InstanceStatus.RUNNING for i in waiting)
    assert all(i.owner and i.owner.workspace_id.startswith("pool:") for i in waiting)
    assert plane.keeper.status()[0].ready == 2
    assert plane.routes.routes == {}
    await plane.keeper.keep_once()
    assert len(plane.waiting()) == 2, "a full pool is left as it is"


async def test_a_create_takes_a_ready_instance_and_makes_it_its_own() -> None:
    plane = Pooled()
    await plane.filled()
    before = {i.name for i in plane.waiting()}
    calls = len(plane.runtime.calls)
    workspace_id = await plane.create("fast")
    workspace = await plane.reconciler.reconcile(workspace_id)
    assert workspace.status is Status.RUNNING
    name = instance_name(workspace)
    assert name in before
    instance = plane.runtime.instances[name]
    assert instance.owner == InstanceOwner(INSTALLATION, workspace.id)
    assert instance.files[MACHINE_SETTINGS].content == machine_settings("fast")
    assert WORKSPACE_ENV_PATH not in instance.files, "as bare as a cold one's"
    assert plane.restarts == [], "code-server is not started again"
    assert plane.routes.routes == {"fast": workspace.address}
    assert "create" not in {step for step, _ in plane.runtime.calls[calls:]}, "none made cold"
    events = [e.value for e in await plane.store.events(workspace.id) if e.kind == "phase"]
    assert "from_pool" in events
    await plane.keeper.keep_once()
    assert len(plane.waiting()) == 2 and name not in {i.name for i in plane.waiting()}


async def test_between_full_lists_the_keeper_asks_after_its_own_and_refills() -> None:
    plane = Pooled()
    plane.keeper = PoolKeeper(
        plane.runtime,
        [SPEC],
        httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        installation=INSTALLATION,
        prefix="ws",
        refill_after_take=0,
    )
    plane.reconciler = Reconciler(
        plane.store,
        plane.runtime,
        plane.routes,
        httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        ReconcileLimits(cpus=2, memory_mib=2048, ide_timeout=0.5, boot_timeout=0.5),
        installation=INSTALLATION,
        pool=plane.keeper,
    )
    await plane.filled()
    assert plane.keeper.status()[0].ready == 2
    workspace = await plane.reconciler.reconcile(await plane.create("one"))
    assert plane.keeper.status()[0].ready == 1, "what a create took is not shown ready"
    calls = len(plane.runtime.calls)
    await plane.keeper.keep_once()
    assert "list" not in {step for step, _ in plane.runtime.calls[calls:]}
    waiting = {i.name for i in plane.waiting()}
    assert len(waiting) == 2 and instance_name(workspace) not in waiting, "refilled"
    second = await plane.reconciler.reconcile(await plane.create("two"))
    assert instance_name(second) != instance_name(workspace)
    assert "from_pool" in [e.value for e in await plane.store.events(second.id)]


async def test_a_workspace_of_another_size_is_made_cold() -> None:
    plane = Pooled()
    await plane.filled()
    workspace_id = await plane.create("big", Size(cpus=1, memory_mib=1024))
    workspace = await plane.reconciler.reconcile(workspace_id)
    assert workspace.status is Status.RUNNING
    assert instance_name(workspace) not in {i.name for i in plane.waiting()}
    assert len(plane.waiting()) == 2
    instance = plane.runtime.instances[instance_name(workspace)]
    assert instance.files[MACHINE_SETTINGS].content == machine_settings("big"), "named alike"
    assert WORKSPACE_ENV_PATH not in instance.files


async def test_a_pool_instance_is_never_given_back_after_its_holder() -> None:
    plane = Pooled()
    await plane.filled()
    workspace_id = await plane.create("once")
    workspace = await plane.reconciler.reconcile(workspace_id)
    name = instance_name(workspace)
    await plane.service.request("once", Action.DELETE, who=HOST)
    await plane.reconciler.reconcile(workspace_id)
    assert name not in plane.runtime.instances
    for _ in range(3):
        await plane.keeper.keep_once()
    assert name not in plane.runtime.instances


async def test_a_new_image_or_a_smaller_pool_drains_what_waits() -> None:
    plane = Pooled()
    await plane.filled()
    old = {i.name for i in plane.waiting()}
    plane.runtime.replace_image(IMAGE)
    await plane.filled()
    assert old.isdisjoint(plane.runtime.instances), "the old image's instances are deleted"
    assert len(plane.waiting()) == 2
    keeper = PoolKeeper(
        plane.runtime,
        [PoolSpec("default", IMAGE, 2, 2048, None, 1)],
        httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        installation=INSTALLATION,
        prefix="ws",
        list_every=1,
    )
    await keeper.keep_once()
    assert len(plane.waiting()) == 1


async def test_the_keeper_never_drains_an_instance_a_create_took() -> None:
    plane = Pooled()
    await plane.filled()
    taken = plane.waiting()[0]
    pooled = taken.owner
    assert pooled is not None
    mine = InstanceOwner(INSTALLATION, "f" * 32)
    other = InstanceOwner(INSTALLATION, "e" * 32)
    assert await plane.runtime.take(taken.name, pooled, mine)
    assert not await plane.runtime.take(taken.name, pooled, other), "a swap happens once"
    plane.runtime.replace_image(IMAGE)  # every waiting instance is to be drained
    await plane.filled()
    assert plane.runtime.instances[taken.name].owner == mine


@pytest.mark.parametrize("step", ["pool_chosen", "pool_taken"])
async def test_a_hand_over_cut_at_each_step_ends_with_one_owner(step: str) -> None:
    plane = Pooled()
    await plane.filled()
    workspace_id = await plane.create("cut")
    plane.crash_at = step
    with pytest.raises(Crash):
        await plane.reconciler.reconcile(workspace_id)
    workspace = await plane.reconciler.reconcile(workspace_id)  # the restarted serve
    assert workspace.status is Status.RUNNING
    name = instance_name(workspace)
    assert plane.runtime.instances[name].owner == InstanceOwner(INSTALLATION, workspace_id)
    assert name not in {i.name for i in plane.waiting()}
    assert plane.runtime.instances[name].files[MACHINE_SETTINGS].content == machine_settings("cut")


async def cut_after_choosing(plane: Pooled, name: str) -> tuple[str, str]:
    """A create of ``name`` killed once its row named a pool instance: (its id, the instance)."""
    await plane.filled()
    workspace_id = await plane.create(name)
    plane.crash_at = "pool_chosen"
    with pytest.raises(Crash):
        await plane.reconciler.reconcile(workspace_id)
    return workspace_id, instance_name(await plane.store.get_by_id(workspace_id))


async def test_a_hand_over_cut_before_the_take_loses_its_instance_to_another_create() -> None:
    plane = Pooled()
    first, chosen = await cut_after_choosing(plane, "first")
    owner = plane.runtime.instances[chosen].owner
    assert owner is not None
    other = InstanceOwner(INSTALLATION, "e" * 32)
    assert await plane.runtime.take(chosen, owner, other)  # another process's create won
    report = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert chosen in {u.instance for u in report.unclaimed}, "left alone, reported"
    workspace = await plane.reconciler.reconcile(first)
    assert workspace.status is Status.RUNNING
    assert instance_name(workspace) != chosen
    assert plane.runtime.instances[chosen].owner == other


async def test_a_workspace_deleted_before_the_take_leaves_the_instance_in_the_pool() -> None:
    plane = Pooled()
    workspace_id, chosen = await cut_after_choosing(plane, "gone")
    await plane.service.request("gone", Action.DELETE, who=HOST)
    assert (await plane.reconciler.reconcile(workspace_id)).status is Status.DELETED
    assert chosen in {i.name for i in plane.waiting()}


async def test_a_resync_keeps_the_pool_and_reports_none_of_it() -> None:
    plane = Pooled()
    await plane.filled()
    report = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert report.unclaimed == [] and report.orphan_instances_removed == []
    assert len(plane.waiting()) == 2


async def test_admins_see_the_pools_and_no_one_else_does() -> None:
    plane = Pooled()
    await plane.filled()
    control = ControlPlane(
        plane.service,
        plane.store,
        "http://tidepool.test",
        auth=True,
        admins=lambda: frozenset({"root"}),
        pool_status=plane.keeper.status,
    )
    transport = httpx.ASGITransport(app=create_app(control))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        shown = await client.get("/api/pool", headers={"X-Tidepool-User": "root"})
        refused = await client.get("/api/pool", headers={"X-Tidepool-User": "ann"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["items"] == [
        {
            "template": "default",
            "size": 2,
            "ready": 2,
            "starting": 0,
            "image": IMAGE,
            "cpus": 2,
            "memory_mib": 2048,
        }
    ]
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]


async def test_a_refill_waits_until_the_create_that_took_is_done() -> None:
    plane = Pooled()
    await plane.filled()
    plane.keeper._refill_after_take = 60.0  # (a create still in flight)
    await plane.reconciler.reconcile(await plane.create("busy"))
    calls = len(plane.runtime.calls)
    await plane.keeper.keep_once()
    assert "create" not in {step for step, _ in plane.runtime.calls[calls:]}
    assert len(plane.waiting()) == 1
    plane.keeper._refill_after_take = 0.0  # (it is done)
    await plane.keeper.keep_once()
    assert len(plane.waiting()) == 2


async def test_the_name_is_written_once_and_never_into_a_workspace_that_ran_before() -> None:
    plane = Pooled()
    workspace_id = await plane.create("named", Size(cpus=1, memory_mib=1024))
    plane.crash_at = "ide_healthy"  # cut after the boot, before the name
    with pytest.raises(Crash):
        await plane.reconciler.reconcile(workspace_id)
    workspace = await plane.reconciler.reconcile(workspace_id)
    instance = plane.runtime.instances[instance_name(workspace)]
    assert instance.files[MACHINE_SETTINGS].content == machine_settings("named")
    instance.files[MACHINE_SETTINGS].content = b'{"window.title": "mine"}'  # the user's own
    await plane.service.request("named", Action.STOP, who=HOST)
    await plane.reconciler.reconcile(workspace_id)
    await plane.service.request("named", Action.START, who=HOST)
    assert (await plane.reconciler.reconcile(workspace_id)).status is Status.RUNNING
    assert instance.files[MACHINE_SETTINGS].content == b'{"window.title": "mine"}'


async def test_the_first_page_is_asked_for_unless_the_pool_asked_already() -> None:
    pages: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            pages.append(request.url.host)
        return httpx.Response(200)

    plane = Pooled()
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    plane.keeper._http = http  # (the keeper warms each pool instance once)
    plane.reconciler._http = http
    await plane.filled()
    warmed = len(pages)
    assert warmed == 2
    workspace_id = await plane.create("warm")
    await plane.reconciler.reconcile(workspace_id)
    assert len(pages) == warmed, "a pooled create's first page was served in the pool"
    await plane.service.request("warm", Action.STOP, who=HOST)
    await plane.reconciler.reconcile(workspace_id)
    await plane.service.request("warm", Action.START, who=HOST)
    started = await plane.reconciler.reconcile(workspace_id)
    assert pages[warmed:] == [started.address], "a start's code-server renders anew"
    cold = await plane.reconciler.reconcile(await plane.create("cold", Size(cpus=1)))
    assert pages[-1] == cold.address


async def test_a_control_plane_that_does_not_lead_takes_from_the_pool_but_never_fills_it() -> None:
    """Several control planes on one database: the leader fills and drains; another one
    only looks, so its creates take ready instances too, and a smaller pool of its own
    making (a template it has not seen change yet) drains nothing."""
    plane = Pooled()
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    follower = PoolKeeper(
        plane.runtime,
        [PoolSpec("default", IMAGE, 2, 2048, None, 1)],
        http,
        installation=INSTALLATION,
        prefix="ws",
        list_every=1,
        refill_after_take=0,
    )
    await follower.keep_once(change=False)
    assert plane.waiting() == [], "only the leader fills"
    await plane.filled()
    await follower.keep_once(change=False)
    assert len(plane.waiting()) == 2, "only the leader drains"
    assert follower.status()[0].ready == 1
    candidate = follower.next_candidate(await plane.service.create("taker", who=ANN, size=FITS))
    assert candidate is not None and candidate[0] in {i.name for i in plane.waiting()}
