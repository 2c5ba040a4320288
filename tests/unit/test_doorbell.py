"""The store's doorbell: a write in this process wakes the worker and the event streams at
once, instead of at their next poll (``tidepool.domain.doorbell``).

Each test sets the poll far longer than it waits, so only the doorbell can pass it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.api.sse import event_stream
from tidepool.domain.doorbell import Doorbell
from tidepool.domain.identity import HOST
from tidepool.domain.workspace import Status, Workspace
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.worker import Worker, WorkerSettings
from tidepool.services.workspaces import WorkspaceService
from tidepool.store import migrate
from tidepool.store.memory import memory_store
from tidepool.store.sql import open_store

IMAGE = "tidepool/test"
LONG_POLL = 30.0


async def test_a_ticket_taken_before_a_ring_wakes_and_one_after_it_waits() -> None:
    bell = Doorbell()
    before = bell.ticket()
    bell.ring()
    after = bell.ticket()
    started = time.monotonic()
    await Doorbell.wait(before, LONG_POLL)
    assert time.monotonic() - started < 1
    started = time.monotonic()
    await Doorbell.wait(after, 0.2)
    assert time.monotonic() - started >= 0.19, "nothing rang since: the whole timeout"


async def test_the_worker_picks_up_a_create_at_once() -> None:
    store, queue = memory_store()
    runtime, routes = InMemoryRuntime(images=[IMAGE]), InMemoryRouteTable()
    healthy = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    reconciler = Reconciler(store, runtime, routes, healthy, ReconcileLimits(), installation="test")
    settings = WorkerSettings(idle_poll=LONG_POLL, resync_interval=3600, installation="test")
    worker = Worker(store, queue, runtime, routes, reconciler, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # the worker has looked once and waits
        service = WorkspaceService(store, default_image=IMAGE)
        await service.create("quick", who=HOST)
        deadline = time.monotonic() + 5
        while (await service.get("quick", who=HOST)).status is not Status.RUNNING:
            assert time.monotonic() < deadline, "the job waited for the poll"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await healthy.aclose()


async def test_an_event_stream_sends_a_new_event_at_once() -> None:
    store, _ = memory_store()
    workspace = await store.add(Workspace(name="seen", owner="ann", image=IMAGE))
    stream = event_stream(store, workspace.id, after=0, poll=LONG_POLL)
    assert (await anext(stream)).startswith("retry:")
    assert "pending" in await anext(stream)  # the first status, already there
    waiting = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.1)
    await store.add_event(workspace.id, "phase", "booted", "0.5s")
    started = time.monotonic()
    assert "booted" in await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 1
    await stream.aclose()  # type: ignore[attr-defined]


async def test_the_sql_store_rings_for_events_and_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tidepool.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    store, queue = open_store(url)
    try:
        ticket = store.doorbell.ticket()
        workspace = await store.add(Workspace(name="rung", owner="ann", image=IMAGE))
        assert ticket.is_set(), "a new workspace (its event and its job)"
        ticket = store.doorbell.ticket()
        await store.add_event(workspace.id, "phase", "booted", "")
        assert ticket.is_set(), "an event"
        ticket = store.doorbell.ticket()
        await queue.claim("w", 30)
        assert not ticket.is_set(), "a claim is no news: a worker's own poll wakes no one"
    finally:
        await queue.aclose()
