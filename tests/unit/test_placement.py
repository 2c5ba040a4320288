"""Where a new workspace goes on a cluster (``domain.placement``), and an Incus operation
whose URL carries its project (as a cluster's do) waited on at the right path."""

from __future__ import annotations

import httpx
import pytest

from tidepool.adapters.incus.client import IncusClient
from tidepool.domain.placement import MemberLoad, PlacementPolicy, target_for
from tidepool.errors import RuntimeUnavailableError
from tidepool.ports.cluster import Member


def member(
    name: str, used: int, total: int = 100, *, online: bool = True, groups: str = "default"
) -> Member:
    return Member(name, online, MemberLoad(total, used), tuple(groups.split(",")))


MEMBERS = [
    member("node1", 70),
    member("node2", 20, groups="default,gpu"),
    member("node3", 10, online=False),
    member("node4", 40, total=200),
]


def test_least_memory_takes_the_online_member_with_the_smallest_share() -> None:
    assert target_for(PlacementPolicy.LEAST_MEMORY, MEMBERS) == "node2"
    assert target_for(PlacementPolicy.LEAST_MEMORY, MEMBERS[:1] + MEMBERS[3:]) == "node4"


def test_a_group_narrows_the_choice_and_incus_chooses_within_it() -> None:
    assert target_for(PlacementPolicy.LEAST_MEMORY, MEMBERS, "gpu") == "node2"
    assert target_for(PlacementPolicy.INCUS, MEMBERS, "gpu") == "@gpu"
    assert target_for(PlacementPolicy.INCUS, MEMBERS) is None


def test_no_cluster_places_nothing_and_no_member_online_waits() -> None:
    assert target_for(PlacementPolicy.LEAST_MEMORY, []) is None
    with pytest.raises(RuntimeUnavailableError, match="in cluster group 'arm'"):
        target_for(PlacementPolicy.INCUS, MEMBERS, "arm")
    with pytest.raises(RuntimeUnavailableError, match="in the cluster"):
        target_for(PlacementPolicy.LEAST_MEMORY, [member("node3", 0, online=False)])


async def test_an_operation_in_a_project_is_waited_on_at_its_wait_path() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.method == "POST":
            operation = "/1.0/operations/abc?project=default"
            return httpx.Response(202, json={"type": "async", "operation": operation})
        return httpx.Response(200, json={"type": "sync", "metadata": {"status_code": 200}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://incus")
    await IncusClient(http).run("POST", "/1.0/instances", json={})
    assert asked[1] == "/1.0/operations/abc/wait?project=default&timeout=300"
