"""The outbox relay: database jobs reach SQS at least once, never zero times.

The outbox here is ``Outbox``, a small in-memory ``JobQueue`` with the database queue's rules
(one job per workspace; enqueuing again bumps its generation; ``complete`` of an older
generation keeps the job). SQS is moto's SQS server on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest

from support.sqs import SqsServer, sqs_server
from tidepool.adapters.sqs import SqsJobQueue
from tidepool.adapters.sqs_relay import OutboxRelay
from tidepool.errors import RuntimeOperationError, RuntimeUnavailableError
from tidepool.ports import Job, JobQueue


@dataclass
class Row:
    generation: int = 1
    attempts: int = 0
    due: float = 0.0
    leased_until: float = 0.0
    last_error: str = ""


class Outbox:
    """The database queue's rules, in memory, with one way to die on purpose."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.die_on_complete = False

    def enqueue(self, workspace_id: str) -> None:
        row = self.rows.get(workspace_id)
        if row is None:
            self.rows[workspace_id] = Row()
        else:
            row.generation += 1
            row.due = 0.0

    async def claim(self, worker: str, lease_seconds: float) -> Job | None:
        now = time.monotonic()
        for workspace_id, row in sorted(self.rows.items()):
            if row.due <= now and row.leased_until <= now:
                row.leased_until = now + lease_seconds
                return Job(workspace_id, workspace_id, row.attempts, row.generation)
        return None

    async def extend(self, job: Job, lease_seconds: float) -> None:
        self.rows[job.workspace_id].leased_until = time.monotonic() + lease_seconds

    async def complete(self, job: Job) -> None:
        if self.die_on_complete:
            raise Killed
        row = self.rows[job.workspace_id]
        if row.generation == job.generation:
            del self.rows[job.workspace_id]
        else:
            row.leased_until = 0.0

    async def retry(self, job: Job, delay_seconds: float, error: str) -> None:
        row = self.rows[job.workspace_id]
        row.attempts += 1
        row.leased_until = 0.0
        row.due = time.monotonic() + delay_seconds
        row.last_error = error

    async def release_abandoned(self, dead: Callable[[str], bool]) -> int:
        return 0  # the relay never dies mid-claim here

    async def beat(self, worker: str) -> None:
        return None

    async def silent(self, after_seconds: float) -> set[str]:
        return set()

    async def aclose(self) -> None:
        return None


class Killed(BaseException):
    """The relay's process dying between publishing and completing."""


@pytest.fixture(scope="session")
def sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsServer]:
    with sqs_server(tmp_path_factory.mktemp("sqs-relay")) as server:
        yield server


@pytest.fixture
async def queue(sqs: SqsServer) -> AsyncIterator[SqsJobQueue]:
    queue = SqsJobQueue(
        sqs.create_queue(), endpoint_url=sqs.endpoint_url, region="us-east-1", wait_seconds=0
    )
    yield queue
    await queue.aclose()


async def drain(queue: JobQueue) -> list[tuple[str, int]]:
    """Every job in SQS as (workspace, generation), each deleted after it is read."""
    seen = []
    while (job := await queue.claim("test", 30)) is not None:
        seen.append((job.workspace_id, job.generation))
        await queue.complete(job)
    return sorted(seen)


def test_the_outbox_stand_in_keeps_the_port() -> None:
    assert isinstance(Outbox(), JobQueue)


async def test_relay_moves_every_due_job_to_sqs_and_empties_the_outbox(
    queue: SqsJobQueue,
) -> None:
    outbox = Outbox()
    for workspace_id in ("a", "b", "c"):
        outbox.enqueue(workspace_id)
    outbox.enqueue("b")  # re-armed before the relay ran: one job, generation 2
    relay = OutboxRelay(outbox, queue)
    assert await relay.relay_once() == 3
    assert outbox.rows == {}
    assert await drain(queue) == [("a", 1), ("b", 2), ("c", 1)]
    assert await relay.relay_once() == 0


async def test_relay_skips_rows_that_are_not_due(queue: SqsJobQueue) -> None:
    outbox = Outbox()
    outbox.enqueue("later")
    outbox.rows["later"].due = time.monotonic() + 60
    assert await OutboxRelay(outbox, queue).relay_once() == 0
    assert await drain(queue) == []
    assert "later" in outbox.rows


async def test_a_batch_bounds_one_pass(queue: SqsJobQueue) -> None:
    outbox = Outbox()
    for workspace_id in ("a", "b", "c"):
        outbox.enqueue(workspace_id)
    relay = OutboxRelay(outbox, queue, batch=2)
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 1
    assert await drain(queue) == [("a", 1), ("b", 1), ("c", 1)]


async def test_a_relay_killed_after_publishing_only_causes_a_duplicate(
    queue: SqsJobQueue,
) -> None:
    outbox = Outbox()
    outbox.enqueue("a")
    outbox.die_on_complete = True
    with pytest.raises(Killed):
        await OutboxRelay(outbox, queue, lease_seconds=0.3).relay_once()
    assert "a" in outbox.rows, "the row went away although it was never completed"
    # Another relay, once the dead one's lease has run out, sends the job again.
    outbox.die_on_complete = False
    await asyncio.sleep(0.4)
    assert await OutboxRelay(outbox, queue).relay_once() == 1
    assert outbox.rows == {}
    assert await drain(queue) == [("a", 1), ("a", 1)]


async def test_a_job_enqueued_again_while_relayed_is_published_again(
    queue: SqsJobQueue,
) -> None:
    outbox = Outbox()
    outbox.enqueue("a")

    class EnqueueWhilePublishing:
        async def publish(self, workspace_id: str, generation: int) -> None:
            await queue.publish(workspace_id, generation)
            if generation == 1:
                outbox.enqueue(workspace_id)  # a request lands mid-relay

    relay = OutboxRelay(outbox, EnqueueWhilePublishing())
    assert await relay.relay_once() == 2
    assert outbox.rows == {}
    assert await drain(queue) == [("a", 1), ("a", 2)]


async def test_an_sqs_refusal_is_a_typed_error_and_the_job_stays(sqs: SqsServer) -> None:
    missing = SqsJobQueue(
        f"{sqs.endpoint_url}/123456789012/no-such-queue",
        endpoint_url=sqs.endpoint_url,
        region="us-east-1",
    )
    outbox = Outbox()
    outbox.enqueue("a")
    relay = OutboxRelay(outbox, missing, failure_delay_seconds=60)
    try:
        with pytest.raises(RuntimeOperationError) as caught:
            await relay.relay_once()
    finally:
        await missing.aclose()
    message = str(caught.value)
    assert "SendMessage" in message
    assert "NonExistentQueue" in message or "does not exist" in message
    row = outbox.rows["a"]
    assert row.attempts == 1
    assert "publishing" in row.last_error
    assert row.due > time.monotonic() + 30, "the failed job was not held back"


async def test_an_unreachable_sqs_is_a_typed_error(queue: SqsJobQueue) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    gone = SqsJobQueue(
        f"{endpoint}/123456789012/q",
        endpoint_url=endpoint,
        region="us-east-1",
        max_attempts=1,
        connect_timeout=2,
    )
    outbox = Outbox()
    outbox.enqueue("a")
    try:
        with pytest.raises(RuntimeUnavailableError, match=f"127.0.0.1:{port}"):
            await OutboxRelay(outbox, gone).relay_once()
    finally:
        await gone.aclose()
    assert outbox.rows["a"].attempts == 1


async def test_run_relays_until_stopped_and_rides_out_a_failure(queue: SqsJobQueue) -> None:
    outbox = Outbox()
    outbox.enqueue("a")
    failures = []

    class FlakySqs:
        async def publish(self, workspace_id: str, generation: int) -> None:
            if not failures:
                failures.append(workspace_id)
                raise RuntimeUnavailableError("SQS cannot be reached (on purpose)")
            await queue.publish(workspace_id, generation)

    relay = OutboxRelay(outbox, FlakySqs(), idle_seconds=0.05, failure_delay_seconds=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(100):
            if not outbox.rows:
                break
            await asyncio.sleep(0.05)
        outbox.enqueue("b")  # arrives while the relay idles
        for _ in range(100):
            if not outbox.rows:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 2)
    assert failures == ["a"]
    assert outbox.rows == {}
    assert await drain(queue) == [("a", 1), ("b", 1)]
