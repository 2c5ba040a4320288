"""A create asks the pool for room first (``tidepool.adapters.incus.room``): a pool with too
little left refuses the create before anything is made, clearly and the same way every time;
a pool whose figures Incus does not give lets it through."""

from __future__ import annotations

import httpx
import pytest

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.room import MIN_FREE_BYTES, ensure_room, free_bytes
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.errors import StorageFullError
from tidepool.ports import InstanceSpec


def client_for(resources: httpx.Response, made: list[str]) -> IncusClient:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/1.0/storage-pools/tidepool/resources":
            return resources
        if path.startswith("/1.0/images/aliases/"):
            return httpx.Response(200, json={"type": "sync", "metadata": {"target": "abc"}})
        if path == "/1.0/images/abc":
            return httpx.Response(200, json={"type": "sync", "metadata": {"properties": {}}})
        if path == "/1.0/instances/ws" and request.method == "GET":
            return httpx.Response(404, json={"type": "error", "error": "not found"})
        if path == "/1.0/instances" and request.method == "POST":
            made.append(path)
        return httpx.Response(200, json={"type": "sync", "metadata": {"status": "Stopped"}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://incus")
    return IncusClient(http)


def space(total: int, used: int) -> httpx.Response:
    metadata = {"space": {"total": total, "used": used}, "inodes": {"total": 0, "used": 0}}
    return httpx.Response(200, json={"type": "sync", "metadata": metadata})


async def test_a_nearly_full_pool_refuses_the_create_before_anything_is_made() -> None:
    made: list[str] = []
    runtime = IncusRuntime(client_for(space(5 << 30, (5 << 30) - (450 << 20)), made))
    with pytest.raises(StorageFullError, match="storage pool is full") as refused:
        await runtime.create(InstanceSpec("ws", "img"))
    assert "450 MiB left" in str(refused.value)
    assert made == []


async def test_a_pool_with_room_lets_the_create_through() -> None:
    made: list[str] = []
    runtime = IncusRuntime(client_for(space(40 << 30, 5 << 30), made))
    await runtime.create(InstanceSpec("ws", "img"))
    assert made == ["/1.0/instances"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(403, json={"type": "error", "error": "not allowed"}),
        httpx.Response(404, json={"type": "error", "error": "no such pool"}),
        httpx.Response(200, json={"type": "sync", "metadata": {"space": {"total": 0}}}),
    ],
)
async def test_a_pool_that_gives_no_figures_is_not_refused(answer: httpx.Response) -> None:
    made: list[str] = []
    client = client_for(answer, made)
    assert await free_bytes(client, "tidepool") is None
    await ensure_room(client, "tidepool")


async def test_exactly_enough_room_is_enough() -> None:
    client = client_for(space(1 << 30, (1 << 30) - MIN_FREE_BYTES), [])
    assert await free_bytes(client, "tidepool") == MIN_FREE_BYTES
    await ensure_room(client, "tidepool")
