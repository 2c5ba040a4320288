"""``serve`` with ``queue = "sqs"`` for real: a moto SQS server on loopback, real incusd, real
Caddy, a real ``tidepool serve`` subprocess.

Why: the unit and contract tests show that ``SqsJobQueue`` and ``OutboxRelay`` keep their
promises one call at a time; only a whole ``serve`` shows that the relay, the workers and the
reconciler together carry a workspace through its life when every job goes through SQS, that
a ``serve`` killed mid-job converges after a restart without making a second instance, and
that SQS's at-least-once delivery (a message handed out twice) does no harm.

moto runs in this process (``support.sqs``); ``serve`` is a subprocess that reaches it on
127.0.0.1. Every message body moto accepts is recorded, which proves the jobs really went
through SQS and gives the duplicate test a real job message to send again.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.sqs.models import SQSBackend

from support.databases import database_url as fresh_database
from support.serve import ServeProcess, delete_and_wait, running_serve, wait_for_status
from support.sqs import REGION, sqs_server
from tidepool.adapters.incus.runtime import INSTALLATION_KEY
from tidepool.client import ApiClient

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpq"


class SentBodies:
    """The bodies of every message moto accepted, in order (moto runs in this process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[str] = []

    def record(self, body: str) -> None:
        with self._lock:
            self._bodies.append(body)

    def of(self, workspace_id: str) -> list[str]:
        with self._lock:
            bodies = list(self._bodies)
        return [b for b in bodies if json.loads(b).get("workspace_id") == workspace_id]


@dataclass
class Queue:
    """The test's view of serve's SQS queue: what was sent into it, and how full it is."""

    url: str
    endpoint_url: str
    sent: SentBodies

    def _client(self) -> Any:
        return boto3.session.Session().client(
            "sqs", region_name=REGION, endpoint_url=self.endpoint_url
        )

    def send(self, body: str) -> None:
        """Put ``body`` into the queue again, as SQS does when it delivers twice."""
        sqs = self._client()
        try:
            sqs.send_message(QueueUrl=self.url, MessageBody=body)
        finally:
            sqs.close()

    def waiting(self) -> int:
        """Messages visible or in flight: 0 once every job was completed (deleted)."""
        sqs = self._client()
        try:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            found = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        finally:
            sqs.close()
        return sum(int(found["Attributes"][name]) for name in names)

    async def drained(self, timeout: float = 60) -> None:
        """Wait until every message was completed; a job that fails or is never settled
        comes back when its visibility timeout ends, and keeps the queue from draining."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := await asyncio.to_thread(self.waiting)) != 0:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{left} message(s) still in the queue after {timeout} s")
            await asyncio.sleep(0.3)


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    sent = SentBodies()
    send = SQSBackend.send_message

    def recording(self: SQSBackend, queue_name: str, message_body: str, **kwargs: Any) -> Any:
        message = send(self, queue_name, message_body, **kwargs)
        sent.record(message_body)
        return message

    monkeypatch.setattr(SQSBackend, "send_message", recording)
    with sqs_server(tmp_path) as server:
        yield Queue(server.create_queue(), server.endpoint_url, sent)


@pytest.fixture
def serve(tmp_path: Path, queue: Queue) -> Iterator[ServeProcess]:
    sqs = {
        "TIDEPOOL_QUEUE": "sqs",
        "TIDEPOOL_SQS_QUEUE_URL": queue.url,
        "TIDEPOOL_SQS_ENDPOINT_URL": queue.endpoint_url,
        "TIDEPOOL_SQS_REGION": REGION,
    }
    database = fresh_database("sqlite", tmp_path)
    with running_serve(tmp_path / "data", database, prefix=PREFIX, extra_env=sqs) as process:
        yield process
    assert "Traceback" not in process.log(), process.log()[-4000:]


def instances_of(serve: ServeProcess) -> dict[str, str]:
    """This serve's instances in Incus, name → creation time: a second create of the same
    name would show a new time."""
    installation = (serve.data_dir / "installation-id").read_text().strip()
    incus = shutil.which("incus")
    assert incus is not None
    listed = subprocess.run(
        [incus, "list", "--format", "json"], capture_output=True, text=True, timeout=60, check=True
    )
    return {
        item["name"]: item["created_at"]
        for item in json.loads(listed.stdout)
        if (item.get("config") or {}).get(INSTALLATION_KEY) == installation
    }


async def settled(api: ApiClient, name: str, wanted: str) -> dict[str, Any]:
    workspace = await wait_for_status(api, name, {wanted, "failed"})
    assert workspace["status"] == wanted, (workspace["status"], workspace["error"])
    return workspace


async def test_the_whole_lifecycle_runs_through_sqs(serve: ServeProcess, queue: Queue) -> None:
    async with serve.api() as api:
        created = await api.create("tide")
        await settled(api, "tide", "running")
        assert await serve.ide_status("tide") == 200
        assert queue.sent.of(created["id"]), "the create's job went through SQS"
        instances = instances_of(serve)
        assert len(instances) == 1

        await api.act("tide", "stop")
        await settled(api, "tide", "stopped")
        assert await serve.ide_status("tide") == 404

        await api.act("tide", "start")
        await settled(api, "tide", "running")
        assert await serve.ide_status("tide") == 200
        assert instances_of(serve) == instances, "started the same instance again"

        await delete_and_wait(api, "tide")
    assert instances_of(serve) == {}, "no orphan instance"
    assert await serve.ide_status("tide") == 404
    # create, stop, start, delete: one job each, at least.
    assert len(queue.sent.of(created["id"])) >= 4
    await queue.drained()


async def listed(api: ApiClient, name: str) -> list[dict[str, Any]]:
    return [item for item in (await api.list())["items"] if item["name"] == name]


async def deliver_again(queue: Queue, workspace_id: str, after: int) -> None:
    """Once the relay has sent the workspace's job number ``after``, send it twice more,
    while the first copy is being worked on."""
    while len(bodies := queue.sent.of(workspace_id)) <= after:
        await asyncio.sleep(0.05)
    for _ in range(2):
        await asyncio.to_thread(queue.send, bodies[after])


async def test_a_kill_mid_create_converges_with_one_instance(
    serve: ServeProcess, queue: Queue
) -> None:
    async with serve.api() as api:
        created = await api.create("crashy")
        async for event in api.events("crashy"):
            if event["kind"] == "phase" and event["value"] == "instance_created":
                break
    serve.kill()  # the create's job is in flight: its message is leased, not deleted
    instances = instances_of(serve)
    assert len(instances) == 1
    assert "crashy" not in await serve.route_table().list()

    serve.start()
    async with serve.api() as api:
        await settled(api, "crashy", "running")
        assert await serve.ide_status("crashy") == 200
        # The leased message comes back when its lease ends and is worked on again.
        await queue.drained()
        assert instances_of(serve) == instances, "created exactly once"

        await api.act("crashy", "delete")
        async for event in api.events("crashy"):
            if event["kind"] == "status" and event["value"] == "deleting":
                break
    serve.kill()  # the delete's job is in flight
    serve.start()
    async with serve.api() as api:
        for _ in range(600):
            if not await listed(api, "crashy"):
                break
            await asyncio.sleep(0.2)
        assert await listed(api, "crashy") == []
    await queue.drained()
    assert instances_of(serve) == {}, "no orphan instance"
    assert "crashy" not in await serve.route_table().list()
    assert len(queue.sent.of(created["id"])) >= 2, "create and delete went through SQS"


async def test_a_message_delivered_twice_does_no_harm(serve: ServeProcess, queue: Queue) -> None:
    async with serve.api() as api:
        created = await api.create("twice")
        while not (bodies := queue.sent.of(created["id"])):
            await asyncio.sleep(0.05)
        create_job = bodies[0]
        # While the create is in flight, the same job twice more: serve must neither
        # reconcile them alongside the first (they would race its Incus calls) nor fail on them.
        queue.send(create_job)
        queue.send(create_job)
        running = await settled(api, "twice", "running")
        await queue.drained()
        instances = instances_of(serve)
        assert len(instances) == 1, "one instance, whatever the duplicates did"
        assert await serve.ide_status("twice") == 200

        # Once it is running, a duplicate changes nothing at all.
        queue.send(create_job)
        await queue.drained()
        again = await api.get("twice")
        assert (again["status"], again["updated_at"]) == ("running", running["updated_at"])
        assert instances_of(serve) == instances

        # A stop delivered three times stops it once, and a stale duplicate of the
        # create does not start it again: the job says "look at this workspace", and the
        # database says it should be stopped.
        sent_before = len(queue.sent.of(created["id"]))
        await api.act("twice", "stop")
        await deliver_again(queue, created["id"], after=sent_before)
        await settled(api, "twice", "stopped")
        await queue.drained()
        queue.send(create_job)
        await queue.drained()
        assert (await api.get("twice"))["status"] == "stopped"
        assert await serve.ide_status("twice") == 404

        # A delete delivered three times deletes it, and a late duplicate of the
        # create does not bring it back.
        sent_before = len(queue.sent.of(created["id"]))
        await api.act("twice", "delete")
        await deliver_again(queue, created["id"], after=sent_before)
        for _ in range(600):
            if not await listed(api, "twice"):
                break
            await asyncio.sleep(0.2)
        await queue.drained()
        assert await listed(api, "twice") == []
        queue.send(create_job)
        await queue.drained()
        assert await listed(api, "twice") == []
    assert instances_of(serve) == {}
