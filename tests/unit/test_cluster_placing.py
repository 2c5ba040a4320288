"""Workspaces placed on a cluster by the reconciler (``services.placing``) against the fake
cluster: the policy's target reaches the create, the member is recorded with the workspace
and kept across stop and start, a template's group is honoured, and with no member to take a
workspace the create waits, saying why, and fails nothing."""

from __future__ import annotations

from tidepool.adapters.fakes.cluster import InMemoryCluster
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.domain.identity import HOST
from tidepool.domain.placement import MemberLoad, PlacementPolicy
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.ports.cluster import Member
from tidepool.services.placing import Placing
from tidepool.services.workspaces import instance_name
from unit.test_reconcile import IMAGE, Plane, build, user

MEMBERS = [
    Member("node1", True, MemberLoad(100, 80), ("default",)),
    Member("node2", True, MemberLoad(100, 30), ("default", "gpu")),
    Member("node3", True, MemberLoad(100, 10), ("default",)),
]


def placed(
    policy: PlacementPolicy, members: list[Member], group: str = ""
) -> tuple[Plane, InMemoryCluster]:
    runtime = InMemoryRuntime(images=[IMAGE])
    cluster = InMemoryCluster(runtime, members)

    def placement_of(_: Workspace) -> tuple[PlacementPolicy, str]:
        return policy, group

    return build(runtime, placing=Placing(cluster, placement_of)), cluster


async def test_least_memory_places_records_and_keeps_the_member() -> None:
    plane, cluster = placed(PlacementPolicy.LEAST_MEMORY, MEMBERS)
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
    plane, _ = placed(PlacementPolicy.INCUS, MEMBERS, "gpu")
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert plane.runtime.instances[instance_name(workspace)].target == "@gpu"
    assert workspace.location == "node2"


async def test_no_member_to_take_it_waits_and_says_why() -> None:
    offline = [Member("node1", False, MemberLoad(100, 0), ("default",), "Offline")]
    plane, cluster = placed(PlacementPolicy.LEAST_MEMORY, offline)
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
    plane, _ = placed(PlacementPolicy.LEAST_MEMORY, [])
    await plane.service.create("dev1", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("dev1", who=HOST)
    assert workspace.status is Status.RUNNING and workspace.location == ""
    assert plane.runtime.instances[instance_name(workspace)].target is None
