"""Several control planes on one database: the leader repairs, every one keeps its routes.

Two planes (``bootstrap.build`` with in-memory fakes) share one store and one runtime, the
way two ``serve`` share one PostgreSQL and one Incus, each with a route table (a Caddy) of
its own and one installation id.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tidepool import bootstrap
from tidepool.adapters.fakes.front_door import FakeFrontDoor
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.bootstrap import Tidepool
from tidepool.domain.identity import Identity
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.workspace import Action, Status
from tidepool.installation import FILE_NAME, installation_id
from tidepool.ports import InstanceSpec
from tidepool.services import route_follower
from tidepool.services.workspaces import instance_name
from tidepool.settings import Settings
from tidepool.store.memory import memory_store

IMAGE = "tidepool-workspace"
ANN = Identity("ann", admin=False)


class Lead:
    """A lead the test hands out and takes back."""

    def __init__(self, leading: bool) -> None:
        self.leading = leading

    async def check(self) -> bool:
        return self.leading

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def planes(tmp_path: Path) -> AsyncIterator[tuple[Tidepool, Tidepool]]:
    runtime = InMemoryRuntime(images=[IMAGE])
    store = memory_store()
    installation_id(tmp_path / "first")
    (tmp_path / "second").mkdir()
    shutil.copy(tmp_path / "first" / FILE_NAME, tmp_path / "second" / FILE_NAME)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        )
        built = []
        for name, leading in (("first", True), ("second", False)):
            app = await stack.enter_async_context(
                bootstrap.build(
                    Settings(data_dir=tmp_path / name, image_alias=IMAGE),
                    runtime=runtime,
                    routes=InMemoryRouteTable(),
                    store=store,
                    door=FakeFrontDoor(),
                    http=http,
                )
            )
            app.leadership = Lead(leading)
            built.append(app)
        assert built[0].installation == built[1].installation
        yield built[0], built[1]


async def drain(app: Tidepool) -> None:
    worker = app.worker()
    for _ in range(50):
        if not await worker.run_once():
            return


async def routed(app: Tidepool) -> set[str]:
    return {str(name) for name in await app.routes.entries()}


async def test_a_plane_that_does_not_lead_keeps_its_routes_and_deletes_nothing(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, second = planes
    await first.workspaces.create("kept", who=ANN)
    gone = await first.workspaces.create("gone", who=ANN)
    await drain(first)
    await first.workspaces.request("gone", Action.DELETE, who=ANN)
    await drain(first)
    assert await routed(first) == {"kept"}
    assert await routed(second) == set(), "the route went to the first plane's Caddy only"
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    # The deleted workspace's instance comes back (a crash, a restored runtime backup).
    owner = InstanceOwner(first.installation, gone.id)
    await runtime.create(InstanceSpec(instance_name(gone), IMAGE, owner=owner))

    await second.worker().resync_safely()
    assert await routed(second) == {"kept"}, "the follower routes the other plane's workspace"
    assert instance_name(gone) in runtime.instances, "only the leader removes instances"

    await first.worker().resync_safely()
    assert instance_name(gone) not in runtime.instances


async def test_routes_follow_what_another_plane_does_at_once(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, second = planes
    stop = asyncio.Event()
    following = asyncio.create_task(route_follower.follow(second.store, second.routes, stop, 30))
    try:
        await first.workspaces.create("shared", who=ANN)
        await drain(first)
        await wait_for(lambda: routed(second), {"shared"})
        await first.workspaces.request("shared", Action.STOP, who=ANN)
        await drain(first)
        assert (await first.workspaces.get("shared", who=ANN)).status is Status.STOPPED
        await wait_for(lambda: routed(second), set())
    finally:
        stop.set()
        second.store.doorbell.ring()
        await asyncio.wait_for(following, 5)


async def wait_for(
    read: Callable[[], Awaitable[set[str]]], wanted: set[str], timeout: float = 2.0
) -> None:
    """Until ``read()`` gives ``wanted``; the follower's poll is 30 s, so only the store's
    doorbell can make it in time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await read()) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"routes {found}, not {wanted}"
        await asyncio.sleep(0.01)
