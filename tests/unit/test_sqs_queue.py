"""SqsJobQueue beyond the shared contract: settings, FIFO queues, foreign messages, the edge.

Runs against moto's SQS server on loopback (see ``support.sqs``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from support.sqs import REGION, SqsServer, sqs_server
from tidepool.adapters.sqs import (
    BUSY_SECONDS,
    SqsJobQueue,
    decode_job,
    encode_job,
    whole_seconds,
)
from tidepool.errors import InvalidInputError, RuntimeOperationError
from tidepool.settings import Settings


@pytest.fixture(scope="session")
def sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsServer]:
    with sqs_server(tmp_path_factory.mktemp("sqs-queue")) as server:
        yield server


@pytest.fixture
async def queue(sqs: SqsServer) -> AsyncIterator[SqsJobQueue]:
    queue = SqsJobQueue(
        sqs.create_queue(), endpoint_url=sqs.endpoint_url, region=REGION, wait_seconds=0
    )
    yield queue
    await queue.aclose()


async def test_from_settings_uses_the_sqs_settings(
    sqs: SqsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "absent.toml"))
    url = sqs.create_queue()
    settings = Settings(
        queue="sqs", sqs_queue_url=url, sqs_endpoint_url=sqs.endpoint_url, sqs_region=REGION
    )
    queue = SqsJobQueue.from_settings(settings)
    try:
        assert (queue.queue_url, queue.endpoint_url, queue.region) == (
            url,
            sqs.endpoint_url,
            REGION,
        )
        await queue.publish("ws1", 7)
        job = await queue.claim("w", 30)
        assert job is not None
        assert (job.workspace_id, job.generation, job.attempts) == ("ws1", 7, 0)
        assert job.receipt
    finally:
        await queue.aclose()


def test_from_settings_needs_only_the_three_sqs_fields() -> None:
    """The adapter reads plain values: any object with the SQS fields will do, not only
    ``Settings`` (the adapter never imports the settings)."""

    @dataclass(frozen=True)
    class Plain:
        sqs_queue_url: str = "http://127.0.0.1:9/000000000000/jobs.fifo"
        sqs_endpoint_url: str = "http://127.0.0.1:9"
        sqs_region: str = REGION

    queue = SqsJobQueue.from_settings(Plain())
    assert (queue.queue_url, queue.endpoint_url, queue.region) == (
        Plain.sqs_queue_url,
        Plain.sqs_endpoint_url,
        REGION,
    )


@pytest.mark.parametrize(
    ("queue_url", "endpoint_url"),
    [("", ""), ("my-queue", ""), ("http://elasticmq:9324/000000000000/q", "elasticmq:9324")],
)
def test_a_queue_without_a_usable_url_is_refused(queue_url: str, endpoint_url: str) -> None:
    with pytest.raises(InvalidInputError, match="URL"):
        SqsJobQueue(queue_url, endpoint_url=endpoint_url)


def test_leases_are_whole_seconds_rounded_up_within_sqs_limits() -> None:
    assert whole_seconds(0) == 0
    assert whole_seconds(-3) == 0
    assert whole_seconds(0.2) == 1
    assert whole_seconds(60.0) == 60
    assert whole_seconds(10**6) == 43_200


def test_the_message_body_is_plain_json() -> None:
    body = encode_job("ws1", 3)
    assert body == '{"workspace_id": "ws1", "generation": 3}'
    assert decode_job(body) == ("ws1", 3)
    for foreign in [
        "[]",
        '{"workspace_id": "a"}',
        '{"workspace_id": "", "generation": 1}',
        '{"workspace_id": "a", "generation": true}',
        "not json",
    ]:
        with pytest.raises(ValueError):
            decode_job(foreign)


async def test_a_message_that_is_not_a_job_is_dropped_not_handed_out(
    sqs: SqsServer, queue: SqsJobQueue
) -> None:
    raw = boto3.session.Session().client("sqs", region_name=REGION, endpoint_url=sqs.endpoint_url)
    try:
        raw.send_message(QueueUrl=queue.queue_url, MessageBody="hello from elsewhere")
        assert await queue.claim("w", 1) is None
        await asyncio.sleep(1.5)  # past the lease: a kept message would be back by now
        assert await queue.claim("w", 1) is None
        attributes = raw.get_queue_attributes(
            QueueUrl=queue.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attributes == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }
    finally:
        raw.close()
    await queue.publish("ws1", 1)
    job = await queue.claim("w", 1)
    assert job is not None and job.workspace_id == "ws1"


async def test_a_fifo_queue_hands_out_one_job_per_workspace_at_a_time(sqs: SqsServer) -> None:
    queue = SqsJobQueue(
        sqs.create_queue(fifo=True), endpoint_url=sqs.endpoint_url, region=REGION, wait_seconds=0
    )
    try:
        await queue.publish("ws1", 1)
        await queue.publish("ws1", 1)  # a relay's duplicate is kept, not deduplicated away
        await queue.publish("ws2", 1)
        first = await queue.claim("w", 30)
        second = await queue.claim("w", 30)
        assert first is not None and second is not None
        assert (first.workspace_id, second.workspace_id) == ("ws1", "ws2")
        assert await queue.claim("w", 30) is None, "ws1's second job ran beside its first"
        await queue.complete(first)
        third = await queue.claim("w", 30)
        assert third is not None and third.workspace_id == "ws1"
    finally:
        await queue.aclose()


async def test_a_workspace_whose_job_is_in_hand_waits_for_it(queue: SqsJobQueue) -> None:
    """A duplicate (or a newer job) of a workspace this process is working on goes back for
    a moment instead of being reconciled alongside it; other workspaces are not held up."""
    await queue.publish("ws1", 1)
    await queue.publish("ws1", 1)
    await queue.publish("ws2", 1)
    first = await queue.claim("w", 30)
    assert first is not None
    claimed = [await queue.claim("w", 30) for _ in range(3)]
    assert [job.workspace_id for job in claimed if job] == ["ws2"]
    await queue.complete(first)
    await asyncio.sleep(BUSY_SECONDS + 0.5)
    second = await queue.claim("w", 30)
    assert second is not None
    assert second.workspace_id == "ws1"


async def test_acting_on_a_finished_job_quotes_sqs(queue: SqsJobQueue) -> None:
    await queue.publish("ws1", 1)
    job = await queue.claim("w", 30)
    assert job is not None
    await queue.complete(job)
    with pytest.raises(RuntimeOperationError, match="ChangeMessageVisibility") as caught:
        await queue.extend(job, 30)
    assert queue.queue_url in str(caught.value)


async def test_a_long_poll_waits_in_a_thread_not_on_the_event_loop(sqs: SqsServer) -> None:
    queue = SqsJobQueue(sqs.create_queue(), endpoint_url=sqs.endpoint_url, region=REGION)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        started = time.monotonic()
        assert await queue.claim("w", 30) is None  # the default wait: one second
        waited = time.monotonic() - started
    finally:
        ticker.cancel()
        await queue.aclose()
    assert waited >= 0.9, "the claim did not long-poll"
    assert ticks >= 10, "the event loop stood still while SQS was polled"
