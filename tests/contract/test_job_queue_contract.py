"""One suite for what every ``JobQueue`` must keep, whatever carries the jobs.

The worker relies on exactly these rules (see ``tidepool.ports.JobQueue``): a published job
can be claimed; a claimed job is hidden from other workers until its lease ends; ``complete``
removes it; ``retry`` brings it back after the delay with the attempt counted; ``extend``
keeps it hidden. Each queue enters through the ``jobs`` fixture: a ``QueueUnderTest`` with the
queue and a way to put a job for a new workspace into it. The SQS queue runs against moto's
SQS server on loopback.

Leases here are one second (SQS counts whole seconds), so each wait is 1.5 s: long enough
for the lease to end, short enough to keep the suite quick.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.sqs import SqsServer, sqs_server
from tidepool.adapters.sqs import SqsJobQueue
from tidepool.domain.workspace import Workspace
from tidepool.ports import Job, JobQueue

LEASE = 1.0
PAST_LEASE = 1.5
WORKER = "contract-worker"


@dataclass
class QueueUnderTest:
    queue: JobQueue
    #: Puts a reconcile job for a new workspace called ``name``; returns the workspace id.
    publish: Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
def sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsServer]:
    with sqs_server(tmp_path_factory.mktemp("sqs-contract")) as server:
        yield server


async def sqs_queue(server: SqsServer) -> AsyncIterator[QueueUnderTest]:
    # wait_seconds=0: the suite asks "is nothing there?" often, and moto answers at once.
    queue = SqsJobQueue(
        server.create_queue(),
        endpoint_url=server.endpoint_url,
        region="us-east-1",
        wait_seconds=0,
    )

    async def publish(name: str) -> str:
        workspace_id = f"{name}-{uuid.uuid4().hex[:8]}"
        await queue.publish(workspace_id, 1)
        return workspace_id

    try:
        yield QueueUnderTest(queue, publish)
    finally:
        await queue.aclose()


async def database_queue(kind: str, scratch: Path) -> AsyncIterator[QueueUnderTest]:
    """The database queue; its ``publish`` is what a request does: add a workspace."""
    # Imported here so the SQS half of the suite runs before the store package lands.
    from tidepool.store import migrate
    from tidepool.store.memory import memory_store
    from tidepool.store.sql import open_store

    if kind == "memory":
        store, queue = memory_store()
    else:
        url = f"sqlite:///{scratch / 'jobs.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        store, queue = open_store(url)

    async def publish(name: str) -> str:
        workspace = await store.add(Workspace(name=name, owner="contract", image="image"))
        return workspace.id

    try:
        yield QueueUnderTest(queue, publish)
    finally:
        await queue.aclose()
        closer = getattr(store, "aclose", None)
        if closer is not None:
            await closer()


#: Every queue the suite runs over. The database queues join by adding "memory" and "sqlite"
#: here once ``tidepool.store`` exists; their branch is ``database_queue`` above.
QUEUES = ["sqs", "memory", "sqlite"]


@pytest.fixture(params=QUEUES)
async def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QueueUnderTest]:
    if request.param == "sqs":
        server: SqsServer = request.getfixturevalue("sqs")
        async for under_test in sqs_queue(server):
            yield under_test
    else:
        async for under_test in database_queue(request.param, tmp_path):
            yield under_test


async def claim(jobs: QueueUnderTest, lease: float = LEASE) -> Job | None:
    return await jobs.queue.claim(WORKER, lease)


async def test_an_empty_queue_has_nothing_to_claim(jobs: QueueUnderTest) -> None:
    assert await claim(jobs) is None


async def test_claim_returns_a_published_job(jobs: QueueUnderTest) -> None:
    workspace_id = await jobs.publish("alpha")
    job = await claim(jobs)
    assert job is not None
    assert job.workspace_id == workspace_id
    assert job.attempts == 0
    assert job.id


async def test_each_published_job_goes_to_one_claim(jobs: QueueUnderTest) -> None:
    published = {await jobs.publish("alpha"), await jobs.publish("beta")}
    first, second = await claim(jobs), await claim(jobs)
    assert first is not None and second is not None
    assert {first.workspace_id, second.workspace_id} == published
    assert await claim(jobs) is None


async def test_a_claimed_job_is_hidden_until_its_lease_ends(jobs: QueueUnderTest) -> None:
    workspace_id = await jobs.publish("alpha")
    job = await claim(jobs)
    assert job is not None
    assert await claim(jobs) is None, "a second worker got a job that is leased"
    await asyncio.sleep(PAST_LEASE)
    again = await claim(jobs)
    assert again is not None, "the job did not come back when its lease ended"
    assert again.workspace_id == workspace_id


async def test_complete_removes_the_job(jobs: QueueUnderTest) -> None:
    await jobs.publish("alpha")
    job = await claim(jobs)
    assert job is not None
    await jobs.queue.complete(job)
    assert await claim(jobs) is None
    await asyncio.sleep(PAST_LEASE)
    assert await claim(jobs) is None, "a completed job came back after its lease"


async def test_retry_brings_the_job_back_after_the_delay_and_counts_it(
    jobs: QueueUnderTest,
) -> None:
    workspace_id = await jobs.publish("alpha")
    job = await claim(jobs, lease=30)
    assert job is not None
    await jobs.queue.retry(job, LEASE, "the runtime is restarting")
    assert await claim(jobs) is None, "a job came back before its retry delay"
    await asyncio.sleep(PAST_LEASE)
    again = await claim(jobs, lease=30)
    assert again is not None
    assert again.workspace_id == workspace_id
    assert again.attempts == job.attempts + 1


async def test_retry_without_delay_is_claimable_at_once(jobs: QueueUnderTest) -> None:
    workspace_id = await jobs.publish("alpha")
    job = await claim(jobs, lease=30)
    assert job is not None
    await jobs.queue.retry(job, 0, "changed while reconciling")
    again = await claim(jobs, lease=30)
    assert again is not None
    assert again.workspace_id == workspace_id


async def test_extend_keeps_the_job_hidden_past_its_first_lease(jobs: QueueUnderTest) -> None:
    workspace_id = await jobs.publish("alpha")
    job = await claim(jobs)
    assert job is not None
    await jobs.queue.extend(job, 3)
    await asyncio.sleep(PAST_LEASE)
    assert await claim(jobs) is None, "an extended lease ended at its first deadline"
    await asyncio.sleep(2.0)
    again = await claim(jobs)
    assert again is not None, "the extended lease never ended"
    assert again.workspace_id == workspace_id


async def test_a_dead_workers_job_is_released_at_once_a_live_ones_is_not(
    jobs: QueueUnderTest,
) -> None:
    """Long leases; only the queue's own knowledge of owners decides (SQS has none: its
    leases run out instead, which ``test_a_claimed_job_is_hidden_until_its_lease_ends``
    covers)."""
    dead_ones = await jobs.publish("dead")
    await jobs.publish("alive")
    first = await jobs.queue.claim("worker-that-died", 600)
    second = await jobs.queue.claim("worker-still-working", 600)
    assert first is not None and second is not None
    asked: list[str] = []

    def dead(owner: str) -> bool:
        asked.append(owner)
        return owner == "worker-that-died"

    released = await jobs.queue.release_abandoned(dead)
    if isinstance(jobs.queue, SqsJobQueue):
        assert released == 0 and await claim(jobs) is None
        return
    assert released == 1
    assert set(asked) == {"worker-that-died", "worker-still-working"}
    again = await claim(jobs)
    assert again is not None and again.workspace_id == dead_ones
    assert again.attempts == 0, "a worker's death is not the job's failure"
    assert await claim(jobs) is None, "the live worker's job stays leased"
    assert await jobs.queue.release_abandoned(dead) == 0, "nothing is released twice"
