"""Workspaces placed on a cluster by the reconciler (``services.placing``) against the fake
cluster: the policy's target reaches the create, the member is recorded with the workspace
and kept across stop and start, a template's group is honoured, and with no member to take a
workspace the create waits, saying why, and fails nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tidepool.adapters.fakes.cluster import InMemoryCluster
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.domain.identity import HOST, Identity, Scope
from tidepool.domain.placement import MemberLoad, PlacementPolicy
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tidepool.ports.cluster import Member
from tidepool.services.moving import Mover
from tidepool.services.placing import Placing
from tidepool.services.resync import resync
from tidepool.services.workspaces import instance_name
from unit.test_reconcile import IMAGE, INSTALLATION, Plane, build, user

MEMBERS = [
    Member("node1", True, MemberLoad(100, 80), ("default",)),
    Member("node2", True, MemberLoad(100, 30), ("default", "gpu")),
    Member("node3", True, MemberLoad(100, 10), ("default",)),
]


def placed(
    policy: PlacementPolicy, members: list[Member], group: str = ""
) -> tuple[Plane, InMemoryCluster, Placing]:
    runtime = InMemoryRuntime(images=[IMAGE])
    cluster = InMemoryCluster(runtime, members)

    def placement_of(_: Workspace) -> tuple[PlacementPolicy, str]:
        return policy, group

    placing = Placing(cluster, placement_of)
    return build(runtime, placing=placing), cluster, placing


async def test_least_memory_places_records_and_keeps_the_member() -> None:
    plane, cluster, _placing = placed(PlacementPolicy.LEAST_MEMORY, MEMBERS)
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert workspace.status is Status.RUNNING and workspace.location == "node3"
    assert plane.runtime.instances[instance_name(workspace)].target == "node3"
    # A stop and a start keep it where it is, whatever the loads are now.
    cluster.members_now = [MEMBERS[0], MEMBERS[1], Member("node3", True, MemberLoad(100, 99))]
    await plane.service.request("dev1", Action.STOP, who=user("ann"))
    await plane.drain()
    await plane.service.request("dev1", Action.START, who=user("ann"))
    await plane.drain()
    again = await plane.service.get("dev1", who=HOST)
    assert again.status is Status.RUNNING and again.location == "node3"


async def test_a_group_is_left_to_incus_within_it() -> None:
    plane, _, _placing = placed(PlacementPolicy.INCUS, MEMBERS, "gpu")
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert plane.runtime.instances[instance_name(workspace)].target == "@gpu"
    assert workspace.location == "node2"


async def test_no_member_to_take_it_waits_and_says_why() -> None:
    offline = [Member("node1", False, MemberLoad(100, 0), ("default",), "Offline")]
    plane, cluster, _placing = placed(PlacementPolicy.LEAST_MEMORY, offline)
    await plane.service.create("dev1", who=user("ann"))
    await plane.worker.run_once()
    waiting = await plane.service.get("dev1", who=HOST)
    assert waiting.status is not Status.FAILED
    assert "No member in the cluster is online" in waiting.error
    assert plane.runtime.instances == {}
    cluster.members_now = MEMBERS
    await plane.drain()
    assert (await plane.service.get("dev1", who=HOST)).location == "node3"


async def test_one_host_records_no_location() -> None:
    plane, _, _placing = placed(PlacementPolicy.LEAST_MEMORY, [])
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert workspace.status is Status.RUNNING and workspace.location == ""
    assert plane.runtime.instances[instance_name(workspace)].target is None


async def test_a_stopped_workspace_moves_and_nothing_else_does() -> None:
    plane, cluster, placing = placed(PlacementPolicy.LEAST_MEMORY, MEMBERS)
    mover = Mover(plane.service, plane.store, placing)
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    with pytest.raises(ConflictError, match="stop it before moving it"):
        await mover.move("dev1", "node1", who=user("ann"))
    await plane.service.request("dev1", Action.STOP, who=user("ann"))
    await plane.drain()
    with pytest.raises(NotFoundError):
        await mover.move("dev1", "node1", who=user("bob"))
    with pytest.raises(ForbiddenError):
        await mover.move(
            "dev1", "node1", who=Identity("ann", admin=False, scopes=frozenset({Scope.READ}))
        )
    with pytest.raises(InvalidInputError, match="no cluster member 'node9'"):
        await mover.move("dev1", "node9", who=user("ann"))
    assert (await plane.service.get("dev1", who=HOST)).location == "node3"

    moved = await mover.move("dev1", "node1", who=user("ann"))
    assert moved.location == "node1" and cluster.moved == {instance_name(moved): "node1"}
    events = await plane.store.events(moved.id, after=0)
    assert ("location", "node1") in [(e.kind, e.value) for e in events]
    await plane.service.request("dev1", Action.START, who=user("ann"))
    await plane.drain()
    assert (await plane.service.get("dev1", who=HOST)).location == "node1"


async def test_nothing_moves_on_one_host() -> None:
    plane, _, placing = placed(PlacementPolicy.LEAST_MEMORY, [])
    await plane.service.create("dev1", who=user("ann"))
    await plane.service.request("dev1", Action.STOP, who=user("ann"))
    await plane.drain()
    mover = Mover(plane.service, plane.store, placing)
    with pytest.raises(ConflictError, match="not a cluster"):
        await mover.move("dev1", "node1", who=user("ann"))
    with pytest.raises(ConflictError, match="not a cluster"):
        await Mover(plane.service, plane.store, None).move("dev1", "node1", who=user("ann"))


async def test_a_member_away_makes_its_workspaces_unavailable_until_it_is_back() -> None:
    plane, _, _ = placed(PlacementPolicy.LEAST_MEMORY, MEMBERS)
    for name in ("on3", "also3", "on2"):
        await plane.service.create(name, who=user("ann"))
        await plane.drain()
    # (least memory with nothing committed in the fake: all go to node3; put one elsewhere)
    on2 = await plane.service.get("on2", who=HOST)
    await plane.store.save(replace(on2, location="node2"))
    await plane.service.request("also3", Action.STOP, who=user("ann"))
    await plane.drain()

    away = {"node3": "No heartbeat for 12s"}
    report = await resync(
        plane.store, plane.runtime, plane.routes, installation=INSTALLATION, offline=away
    )
    assert sorted(report.unavailable) == ["also3", "on3"]
    for name in ("on3", "also3"):
        workspace = await plane.service.get(name, who=HOST)
        assert workspace.status is Status.UNAVAILABLE
        assert "node3 is offline (No heartbeat for 12s)" in workspace.error
    assert "on3" not in plane.routes.routes  # no route to a member that is gone
    assert (await plane.service.get("on2", who=HOST)).status is Status.RUNNING
    # A second pass while it is still away changes nothing, and queues nothing.
    again = await resync(
        plane.store, plane.runtime, plane.routes, installation=INSTALLATION, offline=away
    )
    assert not again.changed and not await plane.worker.run_once()

    back = await resync(plane.store, plane.runtime, plane.routes, installation=INSTALLATION)
    assert sorted(back.returned) == ["also3", "on3"]
    await plane.drain()
    assert (await plane.service.get("on3", who=HOST)).status is Status.RUNNING
    assert plane.routes.routes["on3"]
    assert (await plane.service.get("also3", who=HOST)).status is Status.STOPPED
