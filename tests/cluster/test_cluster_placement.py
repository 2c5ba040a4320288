"""Placement on a real Incus cluster of two members (``IncusCluster`` and ``IncusRuntime``):
the members and their memory, a create sent to a member or left to Incus, the location an
instance reports, and a move of a stopped instance with its files, after which it starts on
its new member and answers the host on that member's routed bridge."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from support.incus_cluster import IncusCluster
from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.cluster import IncusCluster as ClusterPort
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.domain.placement import PlacementPolicy, target_for
from tidepool.errors import ConflictError, InvalidInputError, RuntimeUnavailableError
from tidepool.ports import InstanceSpec
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.cluster]


@pytest.fixture
async def runtime(node1: IncusClient) -> AsyncIterator[IncusRuntime]:
    made = IncusRuntime(node1, profile="tidepool", pool="data")
    names: list[str] = []
    made.made = names  # type: ignore[attr-defined]
    yield made
    for name in names:
        await made.delete(name)


async def create(runtime: IncusRuntime, target: str | None) -> str:
    name = f"tpcl-{secrets.token_hex(3)}"
    runtime.made.append(name)  # type: ignore[attr-defined]
    await runtime.create(InstanceSpec(name, get_settings().image_alias, target=target))
    return name


async def test_members_are_listed_with_their_memory(node1: IncusClient) -> None:
    members = await ClusterPort(node1).members()
    assert [m.name for m in members] == ["node1", "node2"]
    assert all(m.online and m.load.memory_total > 0 for m in members)
    assert all("default" in m.groups for m in members)
    assert await ClusterPort(node1).clustered()


async def test_a_create_goes_where_it_is_sent_or_where_incus_puts_it(
    node1: IncusClient, runtime: IncusRuntime
) -> None:
    port = ClusterPort(node1)
    there = await create(runtime, "node2")
    assert await port.location(there) == "node2"
    chosen = target_for(PlacementPolicy.LEAST_MEMORY, await port.members())
    assert chosen in {"node1", "node2"}
    by_us = await create(runtime, chosen)
    assert await port.location(by_us) == chosen
    by_incus = await create(runtime, target_for(PlacementPolicy.INCUS, await port.members()))
    assert await port.location(by_incus) in {"node1", "node2"}
    in_group = await create(
        runtime, target_for(PlacementPolicy.INCUS, await port.members(), "default")
    )
    assert await port.location(in_group) in {"node1", "node2"}
    with pytest.raises(RuntimeUnavailableError, match="cluster group 'gpu'"):
        target_for(PlacementPolicy.LEAST_MEMORY, await port.members(), "gpu")


async def test_a_stopped_instance_moves_with_its_files_and_runs_on_its_new_member(
    cluster: IncusCluster, node1: IncusClient, runtime: IncusRuntime
) -> None:
    port = ClusterPort(node1)
    name = await create(runtime, "node2")
    await runtime.start(name)
    await runtime.wait_for_ipv4(name, timeout=60)
    # Its memory limit counts against node2 while it runs (what least_memory weighs).
    loads = {m.name: m.load.memory_used for m in await port.members()}
    assert loads["node2"] - loads["node1"] == 2048 << 20, loads
    await runtime.push_file(name, "/home/dev/kept.txt", b"kept across the move", uid=1000)
    with pytest.raises(ConflictError, match="stop it"):
        await port.move(name, "node1")
    await runtime.stop(name)
    with pytest.raises(InvalidInputError, match="no cluster member 'node9'"):
        await port.move(name, "node9")

    await port.move(name, "node1")
    assert await port.location(name) == "node1"
    await runtime.start(name)
    address = await runtime.wait_for_ipv4(name, timeout=60)
    assert address.startswith("10.77.1."), address  # node1's routed bridge
    done = await runtime.exec(name, ["cat", "/home/dev/kept.txt"])
    assert done.stdout == "kept across the move"
    # The host (where the edge Caddy runs) reaches it on its new member.
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(120):
            try:
                answer = await http.get(f"http://{address}:8080/healthz")
                break
            except httpx.TransportError:
                await __import__("asyncio").sleep(0.5)
        assert answer.status_code == 200
    assert cluster.first.name == "node1"
