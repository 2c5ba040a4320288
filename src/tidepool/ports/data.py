"""The ports of the control plane's data: the workspace store, the job queue, the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from tidepool.domain.audit import AuditEntry, AuditQuery
from tidepool.domain.doorbell import Doorbell
from tidepool.domain.workspace import Status, Workspace


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a workspace's event log: a status change or a start-up phase.

    ``seq`` increases across the whole store, so a reader can ask for what came after the last
    event it saw (server-sent events resume with ``Last-Event-ID``).
    """

    seq: int
    workspace_id: str
    kind: str  # "status" or "phase"
    value: str  # a Status value, or a phase: instance_created, booted, ide_healthy, route_live
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[Workspace]
    total: int


@runtime_checkable
class WorkspaceStore(Protocol):
    """Workspaces, their event log and the job outbox, with transactional writes.

    Every write that changes what should happen also enqueues a reconcile job for the
    workspace IN THE SAME TRANSACTION, so a request can never be saved without its job (nor
    the reverse). There is at most one job per workspace: enqueuing again while one is waiting
    or running marks it to run again, it never adds a second.
    """

    #: Rung by every write this process commits: wakes the worker and the event streams.
    doorbell: Doorbell

    async def add(self, workspace: Workspace) -> Workspace:
        """Insert a new workspace, record its first status and enqueue its job.

        ``ConflictError`` if a workspace of that name exists and is not ``deleted``.
        """
        ...

    async def get(self, name: str) -> Workspace:
        """The live (not ``deleted``) workspace of that name. ``NotFoundError``."""
        ...

    async def get_by_id(self, workspace_id: str) -> Workspace:
        """The workspace with that id, deleted or not. ``NotFoundError``."""
        ...

    async def list(
        self,
        *,
        status: Status | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> Page:
        """Workspaces ordered by creation time, with the total matching count."""
        ...

    async def save(
        self,
        workspace: Workspace,
        *,
        event: tuple[str, str, str] | None = None,
        enqueue: bool = False,
    ) -> Workspace:
        """Write ``workspace`` if its ``version`` is still the stored one; return it with the
        version bumped. ``ConflictError`` if someone else wrote it first (re-read and retry).

        ``event`` (kind, value, detail) is appended to the log in the same transaction, and a
        job is enqueued if ``enqueue``.
        """
        ...

    async def add_event(self, workspace_id: str, kind: str, value: str, detail: str = "") -> None:
        """Append a start-up phase (or any event) to the workspace's log."""
        ...

    async def events(
        self, workspace_id: str | None, after: int = 0, limit: int = 1000
    ) -> Sequence[Event]:
        """The workspace's events (every workspace's if None) with ``seq > after``, oldest
        first, at most ``limit``."""
        ...

    async def latest_event_seq(self) -> int:
        """The ``seq`` of the newest event of any workspace (0 if there is none)."""
        ...

    async def enqueue(self, workspace_id: str) -> None:
        """Enqueue (or re-arm) the workspace's reconcile job outside any other write."""
        ...

    async def ping(self) -> None:
        """Read the store once, as cheaply as it can be read: a readiness check.

        ``RuntimeUnavailableError`` if it cannot be read.
        """
        ...

    async def change_marker(self) -> int | None:
        """A cheap token of the stored workspaces, for callers that keep what they read.

        If two calls return the same number, no write to any workspace committed between
        them, by this process or any other; ask BEFORE reading what is to be kept. It may
        change when nothing did (that only costs a re-read). None when the store cannot tell
        cheaply: nothing read may then be reused. It must cost far less than a read.
        """
        ...


@dataclass(frozen=True, slots=True)
class Job:
    """A claim on one workspace's reconcile job, held by one worker until its lease ends."""

    id: str
    workspace_id: str
    attempts: int
    #: Changes whenever the job is enqueued again; completing an older generation keeps the job.
    generation: int
    receipt: str = ""


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the job queue, for the metrics."""

    jobs: int
    #: How long the job that fell due first has waited (0: none is due).
    oldest_due_seconds: float


@runtime_checkable
class HasBacklog(Protocol):
    """A queue that can say what waits in it (the database's; not a broker's)."""

    async def backlog(self) -> Backlog: ...


@runtime_checkable
class JobQueue(Protocol):
    """Hands out reconcile jobs to workers, each to one worker at a time.

    A claimed job is invisible to other workers until its lease ends; a worker that dies
    simply lets the lease run out and the job is handed out again.
    """

    async def claim(self, worker: str, lease_seconds: float) -> Job | None:
        """The next due job, leased to ``worker``; None if there is none."""
        ...

    async def extend(self, job: Job, lease_seconds: float) -> None:
        """Keep the lease of a job that is still being worked on."""
        ...

    async def complete(self, job: Job) -> None:
        """The job is done: delete it, unless it was enqueued again meanwhile (then release)."""
        ...

    async def retry(self, job: Job, delay_seconds: float, error: str) -> None:
        """Release the job to be claimed again after ``delay_seconds``, counting the attempt."""
        ...

    async def release_abandoned(self, dead: Callable[[str], bool]) -> int:
        """Release at once the leases of workers ``dead`` proves gone (it is asked about each
        lease owner); returns how many jobs were released. A queue that cannot tell (SQS)
        releases none: its leases run out."""
        ...

    async def beat(self, worker: str) -> None:
        """Record that ``worker`` is alive now (its heartbeat), by the queue's own clock."""
        ...

    async def silent(self, after_seconds: float) -> set[str]:
        """The workers whose last heartbeat is more than ``after_seconds`` old, on any host
        (a worker that never beat is never among them). A queue that keeps no heartbeats
        (SQS) answers none."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AuditTrail(Protocol):
    """Where audit entries go, never to change again.

    ``record`` appends one entry whole (a crash never leaves half of one that a reader takes
    for an entry) and returns once it is written. Nothing here, or in any implementation,
    changes or removes an entry. ``read`` returns the newest ``query.limit`` entries that
    match, oldest first, and whether older matching ones were left out.
    """

    async def record(self, entry: AuditEntry) -> None: ...

    async def read(self, query: AuditQuery) -> tuple[list[AuditEntry], bool]: ...
