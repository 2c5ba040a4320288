"""Heartbeats: a worker that goes silent (killed, or its host gone) loses its jobs to a live
worker within the bound, on any host, instead of after its lease; a worker that keeps beating
keeps them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.domain.identity import Identity
from tidepool.domain.workspace import Status
from tidepool.ports import JobQueue, WorkspaceStore
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.worker import Worker, WorkerSettings
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)
INSTALLATION = "0123456789abcdef0123456789abcdef"
FAST = WorkerSettings(
    base_backoff=0,
    max_backoff=0,
    lease_seconds=300,  # far past the test: only the heartbeat can free the job
    heartbeat_seconds=0.05,
    silent_after=0.3,
    resync_interval=300,
)


class Plane:
    """One database (in memory) that workers of several hosts share."""

    def __init__(self) -> None:
        self.store: WorkspaceStore
        self.queue: JobQueue
        self.store, self.queue = memory_store()
        self.runtime = InMemoryRuntime(images=["img"])
        self.routes = InMemoryRouteTable()
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        self.reconciler = Reconciler(
            self.store,
            self.runtime,
            self.routes,
            http,
            ReconcileLimits(ide_timeout=0.5, boot_timeout=0.5),
            installation=INSTALLATION,
        )
        self.service = WorkspaceService(self.store, default_image="img")

    def worker(self, name: str) -> Worker:
        parts = (self.store, self.queue, self.runtime, self.routes, self.reconciler)
        return Worker(*parts, replace(FAST, installation=INSTALLATION), name=name)


async def test_a_silent_workers_job_is_taken_over_within_the_bound() -> None:
    plane = Plane()
    created = await plane.service.create("dev1", who=ANN)
    # Another host's worker claimed it, beat once, and died: its lease has 300 s to run.
    held = await plane.queue.claim("other-host-worker", 300)
    assert held is not None and held.workspace_id == created.id
    await plane.queue.beat("other-host-worker")

    stop = asyncio.Event()
    live = plane.worker("live-worker")
    running = asyncio.create_task(live.run(stop))
    began = asyncio.get_running_loop().time()
    try:
        while (await plane.store.get("dev1")).status is not Status.RUNNING:
            assert asyncio.get_running_loop().time() - began < 5, "not taken over"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert asyncio.get_running_loop().time() - began < 2.0


async def test_a_worker_that_keeps_beating_keeps_its_job() -> None:
    plane = Plane()
    await plane.service.create("dev1", who=ANN)
    held = await plane.queue.claim("busy-worker", 300)
    assert held is not None
    stop = asyncio.Event()
    live = plane.worker("live-worker")
    running = asyncio.create_task(live.run(stop))
    try:
        for _ in range(20):  # 1 s: three times the silence bound
            await plane.queue.beat("busy-worker")
            await asyncio.sleep(0.05)
        assert (await plane.store.get("dev1")).status is Status.PENDING, "taken from a live one"
        assert await plane.queue.claim("third-worker", 300) is None, "the lease still holds"
    finally:
        stop.set()
        await running


def test_the_bounds_keep_a_silent_worker_under_ten_seconds() -> None:
    defaults = WorkerSettings()
    assert defaults.silent_after + defaults.heartbeat_seconds < 10
    assert replace(defaults, silent_after=6).silent_after > 2 * defaults.heartbeat_seconds
