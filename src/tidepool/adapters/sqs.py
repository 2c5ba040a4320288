"""``SqsJobQueue``: the ``JobQueue`` port on an SQS queue (AWS SQS, ElasticMQ, any look-alike).

Why SQS at all, when the database queue works: a team that already runs SQS (or ElasticMQ)
can let it carry the hand-out of reconcile jobs to many workers, and keep the database for
the truth. The database stays the outbox either way: a request writes its job row in the same
transaction as the desired state, and ``tidepool.adapters.sqs_relay.OutboxRelay`` copies each
row into SQS. This module is only the SQS side: publishing a job, and the port that workers
claim from.

How the port maps onto SQS:

- ``claim``: ReceiveMessage of one message with ``VisibilityTimeout`` = the lease. The lease
  IS SQS's visibility timeout: other workers cannot see the message until it ends, and a
  worker that dies simply lets it run out. ``Job.receipt`` is the ReceiptHandle, and
  ``Job.attempts`` is ``ApproximateReceiveCount - 1`` (every earlier hand-out was an attempt).
- ``extend``: ChangeMessageVisibility to a fresh lease, counted from now.
- ``complete``: DeleteMessage. A job enqueued again meanwhile is a separate message (the relay
  publishes each generation), so deleting this one never loses the newer request.
- ``retry``: ChangeMessageVisibility to the delay: the message comes back after it, and its
  next receive counts the attempt.

One process never holds two jobs of one workspace at once: a message for a workspace whose
job it already holds goes back for ``BUSY_SECONDS`` (two reconciles of one workspace at once
would race each other's runtime calls). Several processes on a standard queue can still
overlap; a FIFO queue (below) rules that out too.

SQS speaks whole seconds: leases and delays are rounded up, and capped at SQS's 12 hours.
Delivery is at least once (SQS itself may hand a message out twice, and the relay may publish
twice): that is safe because reconciling a workspace is idempotent.

A queue whose URL ends in ``.fifo`` gets one message group per workspace, so two jobs of one
workspace are never worked on at once (as with the database queue); on a standard queue two
generations of one workspace can overlap, and the store's optimistic versions turn the loser
into a retry.

boto3 blocks, so every call runs in a thread (``asyncio.to_thread``); the client is made
lazily in that thread too, since building one reads files. Failures are mapped at this edge:
an endpoint that cannot be reached raises ``RuntimeUnavailableError`` (transient: the worker
retries), anything SQS refuses raises ``RuntimeOperationError`` quoting SQS's code and message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config

from tidepool.errors import (
    InvalidInputError,
    RuntimeOperationError,
    RuntimeUnavailableError,
    TidepoolError,
)
from tidepool.ports import Job

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQS refuses a visibility timeout above 12 hours.
MAX_VISIBILITY_SECONDS = 43_200
#: How long a message waits when its workspace's job is already in hand in this process.
BUSY_SECONDS = 2


def encode_job(workspace_id: str, generation: int) -> str:
    """The message body for one job: JSON, so any SQS console or tool can read it."""
    return json.dumps({"workspace_id": workspace_id, "generation": generation})


def decode_job(body: str) -> tuple[str, int]:
    """``(workspace_id, generation)`` from a body; ``ValueError`` if it is not one of ours."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    workspace_id = data.get("workspace_id")
    generation = data.get("generation")
    if not isinstance(workspace_id, str) or not workspace_id:
        raise ValueError("no workspace_id")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise ValueError("no integer generation")
    return workspace_id, generation


def whole_seconds(seconds: float) -> int:
    """SQS takes whole seconds: round up (a lease never ends early), clamp to SQS's range."""
    return max(0, min(MAX_VISIBILITY_SECONDS, math.ceil(seconds)))


class SqsSettings(Protocol):
    """The settings ``from_settings`` reads, and nothing else.

    A protocol rather than ``tidepool.settings.Settings``: an adapter takes plain values and
    never imports the settings (``lint-imports`` checks it); ``Settings`` fits as it is.
    """

    @property
    def sqs_queue_url(self) -> str: ...

    @property
    def sqs_endpoint_url(self) -> str: ...

    @property
    def sqs_region(self) -> str: ...


class SqsJobQueue:
    """The ``JobQueue`` port on one SQS queue, plus ``publish`` to put jobs into it.

    ``endpoint_url`` is empty for AWS itself (the endpoint then follows from the region) and
    set for ElasticMQ or another SQS-compatible server. Credentials come from boto3's usual
    chain (environment, shared files, instance role); ElasticMQ accepts any.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        endpoint_url: str = "",
        region: str = "",
        wait_seconds: int = 1,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
    ) -> None:
        if not queue_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"the SQS queue URL must be an http(s) URL, not {queue_url!r} "
                "(set TIDEPOOL_SQS_QUEUE_URL)"
            )
        if endpoint_url and not endpoint_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"the SQS endpoint must be an http(s) URL, not {endpoint_url!r}"
            )
        if not 0 <= wait_seconds <= 20:
            raise InvalidInputError(f"wait_seconds must be 0..20 (SQS's limit), not {wait_seconds}")
        self.queue_url = queue_url
        self.endpoint_url = endpoint_url
        self.region = region
        self._wait_seconds = wait_seconds
        self._config = Config(
            connect_timeout=connect_timeout,
            # A receive holds the connection for up to wait_seconds before it answers.
            read_timeout=wait_seconds + 10,
            retries={"mode": "standard", "max_attempts": max_attempts},
        )
        self._fifo = queue_url.endswith(".fifo")
        self._sqs: SQSClient | None = None
        self._lock = threading.Lock()
        #: Workspaces whose job this process holds, and when that lease ends (monotonic).
        self._held: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: SqsSettings) -> SqsJobQueue:
        """The queue that ``TIDEPOOL_SQS_QUEUE_URL``, ``_ENDPOINT_URL`` and ``_REGION`` name."""
        return cls(
            settings.sqs_queue_url,
            endpoint_url=settings.sqs_endpoint_url,
            region=settings.sqs_region,
        )

    # --- the JobQueue port ---

    async def claim(self, worker: str, lease_seconds: float) -> Job | None:
        """Receive one message, hidden from other workers for ``lease_seconds``.

        SQS does not record who holds a message, so ``worker`` only appears in the logs. A
        message that is not a Tidepool job is deleted (it could never be worked on, and would
        otherwise come back forever); the database still holds every real request.
        """
        response = await self._call(
            "ReceiveMessage",
            lambda sqs: sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=1,
                VisibilityTimeout=whole_seconds(lease_seconds),
                WaitTimeSeconds=self._wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ),
        )
        messages = response.get("Messages", [])
        if not messages:
            return None
        message = messages[0]
        receipt = message.get("ReceiptHandle", "")
        body = message.get("Body", "")
        try:
            workspace_id, generation = decode_job(body)
        except ValueError as error:
            log.warning(
                "deleting an SQS message that is not a Tidepool job (%s): %.200r", error, body
            )
            await self._delete(receipt)
            return None
        now = time.monotonic()
        self._held = {held: until for held, until in self._held.items() if until > now}
        if workspace_id in self._held:
            # The same job twice (SQS delivers at least once, the relay may publish twice) or
            # a newer one: never two reconciles of one workspace at once in one process (they
            # race each other's Incus calls), as with the database queue. It comes back soon.
            await self._call(
                "ChangeMessageVisibility",
                lambda sqs: sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=BUSY_SECONDS
                ),
            )
            return None
        self._held[workspace_id] = now + lease_seconds
        received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        log.debug("worker %s claimed the job of workspace %s", worker, workspace_id)
        return Job(
            id=message.get("MessageId", ""),
            workspace_id=workspace_id,
            attempts=max(0, received - 1),
            generation=generation,
            receipt=receipt,
        )

    async def extend(self, job: Job, lease_seconds: float) -> None:
        """Hide the message for ``lease_seconds`` more, counted from now."""
        await self._change_visibility(job, lease_seconds)
        self._held[job.workspace_id] = time.monotonic() + lease_seconds

    async def complete(self, job: Job) -> None:
        """Delete the message: this generation of the job is done."""
        self._held.pop(job.workspace_id, None)
        await self._delete(job.receipt)

    async def retry(self, job: Job, delay_seconds: float, error: str) -> None:
        """Let the message come back after ``delay_seconds``; its next receive counts the attempt.

        SQS keeps no note with a message, so ``error`` goes to the log (the worker records
        permanent failures on the workspace itself).
        """
        log.info("job of workspace %s back in %.0fs: %s", job.workspace_id, delay_seconds, error)
        self._held.pop(job.workspace_id, None)
        await self._change_visibility(job, delay_seconds)

    async def release_abandoned(self, dead: Callable[[str], bool]) -> int:
        """SQS does not say who holds a message: a dead worker's message comes back when its
        visibility timeout (the lease) runs out."""
        return 0

    async def beat(self, worker: str) -> None:
        """SQS keeps no heartbeats: a dead worker's messages come back when their visibility
        timeout (the lease) ends."""

    async def silent(self, after_seconds: float) -> set[str]:
        return set()

    async def aclose(self) -> None:
        """Close the client's connections; the queue is not used afterwards."""
        with self._lock:
            sqs, self._sqs = self._sqs, None
        if sqs is not None:
            await asyncio.to_thread(sqs.close)

    # --- the producer side ---

    async def publish(self, workspace_id: str, generation: int) -> None:
        """Send one job (the relay calls this for every outbox row it moves)."""
        body = encode_job(workspace_id, generation)
        if self._fifo:
            # One group per workspace keeps its jobs one at a time. The deduplication id is
            # fresh on purpose: a generation number may repeat after its row is deleted, and
            # SQS would silently drop a real request that reused it within five minutes.
            await self._call(
                "SendMessage",
                lambda sqs: sqs.send_message(
                    QueueUrl=self.queue_url,
                    MessageBody=body,
                    MessageGroupId=workspace_id,
                    MessageDeduplicationId=uuid.uuid4().hex,
                ),
            )
        else:
            await self._call(
                "SendMessage",
                lambda sqs: sqs.send_message(QueueUrl=self.queue_url, MessageBody=body),
            )

    # --- the edge ---

    async def _change_visibility(self, job: Job, seconds: float) -> None:
        await self._call(
            "ChangeMessageVisibility",
            lambda sqs: sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=job.receipt,
                VisibilityTimeout=whole_seconds(seconds),
            ),
        )

    async def _delete(self, receipt: str) -> None:
        await self._call(
            "DeleteMessage",
            lambda sqs: sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt),
        )

    def _client(self) -> SQSClient:
        """The boto3 client, made on first use (in a worker thread: it reads model files)."""
        with self._lock:
            if self._sqs is None:
                # A session of our own: boto3's default session is not safe across threads.
                session = boto3.session.Session()
                self._sqs = session.client(
                    "sqs",
                    region_name=self.region or None,
                    endpoint_url=self.endpoint_url or None,
                    config=self._config,
                )
            return self._sqs

    async def _call(self, action: str, call: Callable[[SQSClient], T]) -> T:
        """Run one boto3 call in a thread; turn its failures into Tidepool's errors."""
        try:
            return await asyncio.to_thread(lambda: call(self._client()))
        except (boto_errors.BotoCoreError, boto_errors.ClientError) as error:
            raise self._translate(action, error) from error

    def _translate(
        self, action: str, error: boto_errors.BotoCoreError | boto_errors.ClientError
    ) -> TidepoolError:
        where = self.endpoint_url or f"SQS in {self.region or 'the default region'}"
        if isinstance(error, boto_errors.ClientError):
            details: dict[str, Any] = dict(error.response.get("Error", {}))
            code = details.get("Code", "unknown")
            message = details.get("Message") or str(error)
            return RuntimeOperationError(
                f"SQS {action} on {self.queue_url} failed: {code}: {message}"
            )
        if isinstance(error, boto_errors.ConnectionError | boto_errors.HTTPClientError):
            return RuntimeUnavailableError(f"SQS cannot be reached at {where}: {error}")
        return RuntimeOperationError(f"SQS {action} on {self.queue_url} failed: {error}")
