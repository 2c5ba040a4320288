"""``OutboxRelay``: moves reconcile jobs from the database outbox into SQS, at least once.

Why an outbox, and why this order. A request writes the workspace's desired state and its job
row in ONE database transaction, so a request is never saved without its job, nor the
reverse; sending to SQS inside that transaction could not be undone if the commit then failed.
The relay does the sending afterwards, for each due row:

1. claim the row from the database queue (a lease, like any worker; several relays can run);
2. publish ``{"workspace_id", "generation"}`` to SQS;
3. complete the row in the database.

A crash between 2 and 3 leaves the row claimed; its lease runs out, the row is claimed again
and published again. So a job reaches SQS AT LEAST ONCE, sometimes twice, never zero times.
A duplicate is harmless: reconciling a workspace is idempotent (it drives the workspace toward
the desired state the database holds, and does nothing when it is already there).

If the workspace is enqueued again while its row is being relayed, the database queue's
``complete`` keeps the row (its generation moved on) and the relay publishes the new
generation on a later pass: a newer request is never swallowed by an older publish.

If SQS refuses or cannot be reached, the row is released with a short delay and the typed
error (``RuntimeUnavailableError``, ``RuntimeOperationError``) is raised to the caller;
``run`` logs it and tries again, and nothing is lost because the row is still in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from typing import Protocol

from tidepool.errors import TidepoolError
from tidepool.ports import JobQueue

log = logging.getLogger(__name__)


class JobPublisher(Protocol):
    """Where the relay sends jobs; ``SqsJobQueue`` is one."""

    async def publish(self, workspace_id: str, generation: int) -> None: ...


class OutboxRelay:
    """Copies due jobs from ``outbox`` (the database ``JobQueue``) to ``sqs``.

    ``lease_seconds`` only has to cover one publish: if the relay dies, the row comes back
    after it. ``batch`` bounds one pass so ``run`` notices ``stop`` often.
    """

    def __init__(
        self,
        outbox: JobQueue,
        sqs: JobPublisher,
        *,
        lease_seconds: float = 30.0,
        batch: int = 100,
        idle_seconds: float = 0.5,
        failure_delay_seconds: float = 2.0,
    ) -> None:
        self._outbox = outbox
        self._sqs = sqs
        self._lease_seconds = lease_seconds
        self._batch = batch
        self._idle_seconds = idle_seconds
        self._failure_delay = failure_delay_seconds
        self.name = f"relay-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"

    async def relay_once(self) -> int:
        """Move every due job (up to ``batch``) to SQS; return how many were moved.

        Raises the SQS adapter's typed error after releasing the job it could not send.
        """
        moved = 0
        while moved < self._batch:
            job = await self._outbox.claim(self.name, self._lease_seconds)
            if job is None:
                break
            try:
                await self._sqs.publish(job.workspace_id, job.generation)
            except TidepoolError as error:
                # Give the row back soon; if even that fails its lease will run out instead.
                with contextlib.suppress(TidepoolError):
                    await self._outbox.retry(job, self._failure_delay, f"publishing: {error}")
                raise
            # Published: a crash from here on only leads to a duplicate message.
            await self._outbox.complete(job)
            moved += 1
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, sleeping briefly whenever the outbox is empty."""
        while not stop.is_set():
            try:
                moved = await self.relay_once()
            except TidepoolError as error:
                log.warning("relaying jobs to SQS failed, will try again: %s", error)
                moved = 0
                pause = max(self._idle_seconds, self._failure_delay)
            else:
                pause = self._idle_seconds
            if moved >= self._batch:
                continue  # more may be waiting right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
