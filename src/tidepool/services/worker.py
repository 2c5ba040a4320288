"""The worker: claims reconcile jobs, runs them, retries what may pass, records what won't.

Several workers (in one process or many, against PostgreSQL) can run at once: each job is
leased to one worker, and the lease is extended while the work goes on. A killed worker's
leases are released as soon as another worker can prove it dead (``is_dead``: on one host, a
gone pid; see ``tidepool.host.liveness``), at its start and at every resync, or sees it
silent: every worker writes a heartbeat every 2 s, and one silent for 6 s, on any host, loses
its leases at once (``JobQueue.silent``). Otherwise they run out. Either way the job is handed
out again and the idempotent reconcile picks up where the dead one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from tidepool.errors import (
    ConflictError,
    NotFoundError,
    ProxyError,
    RuntimeReadError,
    RuntimeUnavailableError,
    TidepoolError,
    TimeoutExpiredError,
)
from tidepool.ports import Job, JobQueue, Leadership, RouteTable, Runtime, WorkspaceStore
from tidepool.services.reconcile import Reconciler
from tidepool.services.resync import ResyncReport, resync

log = logging.getLogger(__name__)

#: Failures that may pass on their own: Caddy restarting, a slow boot (a few attempts). The
#: runtime's daemon being down is retried for as long as it takes (see ``_attempt``).
TRANSIENT = (ProxyError, TimeoutExpiredError, RuntimeReadError)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    lease_seconds: float = 60.0
    max_attempts: int = 5
    base_backoff: float = 1.0
    max_backoff: float = 60.0
    idle_poll: float = 0.2
    concurrency: int = 4
    #: While the runtime's daemon is down, a job asks again at least this often, for ever.
    daemon_backoff: float = 5.0
    resync_interval: float = 30.0
    #: How often a worker records that it is alive, and looks for workers that went silent.
    heartbeat_seconds: float = 2.0
    #: A worker silent this long (on any host) has its jobs taken back at once.
    silent_after: float = 6.0
    #: This installation's id: what a resync may prove an instance's (``domain.ownership``).
    installation: str = ""


def backoff(attempts: int, settings: WorkerSettings) -> float:
    return float(min(settings.max_backoff, settings.base_backoff * 2 ** max(0, attempts - 1)))


class Worker:
    def __init__(
        self,
        store: WorkspaceStore,
        queue: JobQueue,
        runtime: Runtime,
        routes: RouteTable,
        reconciler: Reconciler,
        settings: WorkerSettings = WorkerSettings(),
        name: str = "",
        is_dead: Callable[[str], bool] = lambda _: False,
        on_resync: Callable[[ResyncReport], None] = lambda _: None,
        offline: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        #: Whether this process leads the control planes on its database: only the leader's
        #: resyncs repair instances and statuses; the others keep their own routes.
        self._leadership = leadership
        #: Told each resync's report: what it left unclaimed is published for operators.
        self._on_resync = on_resync
        #: On a cluster: the members that are away, and why (``Placing.offline``).
        self._offline = offline
        self._store = store
        self._queue = queue
        self._runtime = runtime
        self._routes = routes
        self._reconciler = reconciler
        self._settings = settings
        self.name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._is_dead = is_dead
        #: The jobs in flight, each a task of its own.
        self._jobs: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then let in-flight jobs finish (their leases protect
        them if this process is killed instead)."""
        await self.release_abandoned()
        beating = asyncio.create_task(self._keep_beating(stop), name="heartbeat")
        await self.resync_safely()
        slots = asyncio.Semaphore(self._settings.concurrency)
        tasks = self._jobs
        next_resync = asyncio.get_running_loop().time() + self._settings.resync_interval
        while not stop.is_set():
            if asyncio.get_running_loop().time() >= next_resync:
                await self.release_abandoned()
                await self.resync_safely()
                next_resync = asyncio.get_running_loop().time() + self._settings.resync_interval
            await slots.acquire()
            ticket = self._store.doorbell.ticket()
            job = await self._claim()
            if job is None:
                slots.release()
                await self._idle(stop, ticket)
                continue
            task = asyncio.create_task(self._run_job(job))
            tasks.add(task)

            def finished(done: asyncio.Task[None]) -> None:
                tasks.discard(done)
                slots.release()

            task.add_done_callback(finished)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)

    async def _keep_beating(self, stop: asyncio.Event) -> None:
        """Until ``stop``: record this worker alive, and take back the jobs of any worker,
        on any host, silent for ``silent_after`` (killed, or its host gone), instead of
        waiting out their leases. Never fatal: a failed beat is tried again."""
        every = self._settings.heartbeat_seconds
        while not stop.is_set():
            try:
                await self._queue.beat(self.name)
                silent = await self._queue.silent(self._settings.silent_after) - {self.name}
                if silent:
                    released = await self._queue.release_abandoned(silent.__contains__)
                    if released:
                        log.info("took back %d job(s) from silent workers", released)
            except TidepoolError as error:
                log.warning("heartbeat failed, will try again: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def hand_back(self) -> int:
        """Stop the jobs in flight now and give them back to the queue; returns how many.

        For a restart, after ``run`` was cancelled: the next worker takes them up at once
        instead of after the lease. Stopping a step half-way is what a crash does, and every
        step is idempotent (the crash sweep proves it at each step boundary).
        """
        for task in self._jobs:
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        return await self._queue.release_abandoned(lambda owner: owner == self.name)

    async def _idle(self, stop: asyncio.Event, ticket: asyncio.Event) -> None:
        """Until ``stop``, a job enqueued (the store's doorbell: the API's POST is picked up
        at once, and on PostgreSQL another process's too, by its notification), or
        ``idle_poll`` (SQS's, or a notification lost while the listener reconnects)."""
        waiting = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ticket.wait())]
        try:
            await asyncio.wait(
                waiting, timeout=self._settings.idle_poll, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for each in waiting:
                each.cancel()

    async def _claim(self) -> Job | None:
        try:
            return await self._queue.claim(self.name, self._settings.lease_seconds)
        except TidepoolError as error:
            log.warning("claiming a job failed: %s", error)
        except Exception:
            log.exception("claiming a job crashed")
        return None

    async def release_abandoned(self) -> None:
        """Take back at once the jobs of workers that are provably dead (never fatal)."""
        try:
            released = await self._queue.release_abandoned(self._is_dead)
        except Exception:
            log.exception("could not release the jobs of dead workers; their leases will end")
            return
        if released:
            log.info("took back %d job(s) from workers that died", released)

    async def resync_safely(self) -> None:
        """A failed resync is logged and tried again at the next interval, never fatal."""
        try:
            away = await self._offline() if self._offline is not None else {}
            report = await resync(
                self._store,
                self._runtime,
                self._routes,
                installation=self._settings.installation,
                offline=away,
                lead=self._leadership is None or self._leadership.leading,
            )
        except TidepoolError as error:
            log.warning("resync failed, will try again: %s", error)
            return
        except Exception:
            log.exception("resync crashed, will try again")
            return
        try:
            self._on_resync(report)
        except Exception:
            log.exception("could not publish what the resync found")

    async def run_once(self) -> bool:
        """Claim and run one job if one is due (for tests and tools); False if none was."""
        job = await self._claim()
        if job is None:
            return False
        await self._run_job(job)
        return True

    async def _run_job(self, job: Job) -> None:
        """Run one job; whatever happens, the worker goes on (the lease covers the rest)."""
        try:
            await self._attempt(job)
        except Exception:
            log.exception("job %s could not be settled; its lease will expire", job.workspace_id)

    async def _attempt(self, job: Job) -> None:
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            await self._reconciler.reconcile(job.workspace_id)
        except ConflictError:
            await self._queue.retry(job, 0, "changed while reconciling")
        except NotFoundError as error:
            if await self._workspace_exists(job.workspace_id):
                await self._fail(job, str(error))
            else:
                await self._queue.complete(job)
        except RuntimeUnavailableError as error:
            # The runtime's daemon is down (incusd restarting): nothing is wrong with the
            # workspace, so it is never marked failed for it; the job waits for the daemon.
            delay = min(backoff(job.attempts + 1, self._settings), self._settings.daemon_backoff)
            log.info("job %s: %s; trying again in %.1fs", job.workspace_id, error, delay)
            await self._say_waiting(job.workspace_id, str(error))
            await self._queue.retry(job, delay, str(error))
        except TRANSIENT as error:
            if job.attempts + 1 >= self._settings.max_attempts:
                await self._fail(job, f"{error} (after {job.attempts + 1} attempts)")
            else:
                delay = backoff(job.attempts + 1, self._settings)
                log.info("job %s: %s; retrying in %.1fs", job.workspace_id, error, delay)
                await self._queue.retry(job, delay, str(error))
        except TidepoolError as error:
            await self._fail(job, str(error))
        except Exception as error:
            log.exception("job %s crashed", job.workspace_id)
            await self._fail(job, f"internal error: {error!r}")
        else:
            await self._queue.complete(job)
        finally:
            keeper.cancel()

    async def _say_waiting(self, workspace_id: str, why: str) -> None:
        """Tell the workspace's followers why it does not move: its ``error`` (cleared when
        it runs) and, once per cause, an event. Its status stays what it is."""
        waiting = f"Waiting for the runtime: {why}"
        with contextlib.suppress(TidepoolError):
            workspace = await self._store.get_by_id(workspace_id)
            if workspace.error == waiting:
                return
            await self._store.save(replace(workspace, error=waiting))
            await self._store.add_event(workspace_id, "waiting", "runtime_unavailable", why)

    async def _workspace_exists(self, workspace_id: str) -> bool:
        try:
            await self._store.get_by_id(workspace_id)
        except NotFoundError:
            return False
        return True

    async def _fail(self, job: Job, error: str) -> None:
        log.warning("workspace %s failed: %s", job.workspace_id, error)
        with contextlib.suppress(TidepoolError):
            await self._reconciler.mark_failed(job.workspace_id, error)
        await self._queue.complete(job)

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            with contextlib.suppress(TidepoolError):
                await self._queue.extend(job, self._settings.lease_seconds)
