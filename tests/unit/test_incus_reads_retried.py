"""A read incusd answers with a 5xx is asked again, and never fails a workspace.

Under load (20 creates at once) incusd now and then answers a read, a ``HEAD`` of a file in
an instance among them, with HTTP 500; that once failed a user's workspace. The client asks a
read again after a short wait; a read failing every time is a ``RuntimeReadError``, which the
worker retries with backoff. A write is never sent twice.
"""

from __future__ import annotations

import httpx
import pytest

from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.adapters.incus import client as incus_client
from tidepool.adapters.incus.client import IncusClient
from tidepool.domain.identity import HOST
from tidepool.domain.workspace import Status
from tidepool.errors import NotFoundError, RuntimeOperationError, RuntimeReadError
from unit.test_reconcile import IMAGE, build, user


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incus_client, "READ_RETRY_DELAYS", (0.0, 0.0))


def flaky(failures: int, then: httpx.Response) -> tuple[IncusClient, list[str]]:
    """A client whose incusd answers ``failures`` requests with HTTP 500, then ``then``."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) <= failures:
            return httpx.Response(500, json={"type": "error", "error": "busy", "error_code": 500})
        return then

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://incus")
    return IncusClient(http), seen


async def test_a_head_answered_500_is_asked_again_and_its_answer_counts() -> None:
    client, seen = flaky(2, httpx.Response(404, json={"type": "error", "error": "not found"}))
    with pytest.raises(NotFoundError):  # the answer that will not change on retry
        await client.request("HEAD", "/1.0/instances/ws/files", params={"path": "/x"})
    assert seen == ["HEAD", "HEAD", "HEAD"]


async def test_a_get_answered_500_every_time_is_a_read_error_the_worker_retries() -> None:
    client, seen = flaky(10, httpx.Response(200))
    with pytest.raises(RuntimeReadError, match="HTTP 500"):
        await client.request("GET", "/1.0/instances/ws/state")
    assert seen == ["GET"] * (len(incus_client.READ_RETRY_DELAYS) + 1)


async def test_a_write_answered_500_is_never_sent_again() -> None:
    client, seen = flaky(1, httpx.Response(200, json={"type": "sync", "metadata": {}}))
    with pytest.raises(RuntimeOperationError) as raised:
        await client.request("POST", "/1.0/instances", json={"name": "ws"})
    assert not isinstance(raised.value, RuntimeReadError)
    assert seen == ["POST"]


class ReadsFailAtFirst(InMemoryRuntime):
    """A runtime whose state reads fail ``times`` times, as incusd's do under load."""

    def __init__(self, times: int) -> None:
        super().__init__(images=[IMAGE])
        self.failures_left = times

    async def wait_for_ipv4(self, name: str, timeout: float) -> str:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeReadError("Incus: busy (GET /1.0/instances/ws/state, HTTP 500)")
        return await super().wait_for_ipv4(name, timeout)


async def test_a_workspace_whose_reads_failed_for_a_while_ends_running() -> None:
    plane = build(ReadsFailAtFirst(times=2), max_attempts=5)
    await plane.service.create("busy", who=user("ann"))
    await plane.drain()
    workspace = await plane.service.get("busy", who=HOST)
    assert workspace.status is Status.RUNNING, workspace.error
    assert len(plane.runtime.instances) == 1, "one instance, never two"
