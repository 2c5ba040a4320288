"""``InMemoryWorkspaceStore`` and ``InMemoryJobQueue``: the store and queue ports in a dict.

For unit tests of the services, API and worker: no I/O, and the same behaviour as the SQL
adapters, which ``tests/contract/test_store_contract.py`` checks by running one suite over
both. Each method does all its work without awaiting, so on one event loop it is as atomic
as a database transaction. Copies go in and out (``runtime_state`` through JSON, as the
database stores it), so a caller can never change stored state by mutating what it holds.

The clock is injectable so a test can move leases and retry delays without sleeping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tidepool.domain.doorbell import Doorbell
from tidepool.domain.workspace import Status, Workspace, now
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StaleWriteError,
)
from tidepool.ports import Backlog, Event, Job, Page


@dataclass(slots=True)
class _JobRow:
    id: str
    workspace_id: str
    run_after: datetime
    created_at: datetime
    generation: int = 1
    attempts: int = 0
    last_error: str = ""
    lease_owner: str | None = None
    lease_receipt: str | None = None
    lease_until: datetime | None = None

    def release(self) -> None:
        self.lease_owner = self.lease_receipt = self.lease_until = None


@dataclass(slots=True)
class MemoryState:
    """Everything the pair stores; shared by the store and the queue like one database."""

    clock: Callable[[], datetime] = now
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    #: By workspace id: at most one job per workspace, as the unique index in SQL.
    jobs: dict[str, _JobRow] = field(default_factory=dict)
    last_seq: int = 0
    #: Bumped by every write to a workspace: the store's ``change_marker``.
    workspace_writes: int = 0
    #: Each worker's last heartbeat.
    beats: dict[str, datetime] = field(default_factory=dict)
    #: Rung by every new event and job, as the database's is by every write.
    doorbell: Doorbell = field(default_factory=Doorbell)

    def live_named(self, name: str) -> Workspace | None:
        for workspace in self.workspaces.values():
            if workspace.name == name and workspace.status is not Status.DELETED:
                return workspace
        return None

    def append_event(self, workspace_id: str, kind: str, value: str, detail: str) -> None:
        self.last_seq += 1
        self.events.append(Event(self.last_seq, workspace_id, kind, value, detail, self.clock()))
        self.doorbell.ring()

    def enqueue(self, workspace_id: str) -> None:
        at = self.clock()
        job = self.jobs.get(workspace_id)
        if job is None:
            self.jobs[workspace_id] = _JobRow(uuid.uuid4().hex, workspace_id, at, at)
        else:
            job.generation += 1
            job.run_after = at
        self.doorbell.ring()

    def held(self, job: Job) -> _JobRow | None:
        row = self.jobs.get(job.workspace_id)
        if row is None or row.id != job.id or row.lease_receipt != job.receipt:
            return None
        return row


def memory_store(
    clock: Callable[[], datetime] = now,
) -> tuple[InMemoryWorkspaceStore, InMemoryJobQueue]:
    """A store and a queue over one shared, empty state."""
    state = MemoryState(clock=clock)
    return InMemoryWorkspaceStore(state), InMemoryJobQueue(state)


class InMemoryWorkspaceStore:
    """The ``WorkspaceStore`` port in memory; see ``tidepool.store.sql`` for the rules."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()
        self.doorbell = self.state.doorbell

    async def add(self, workspace: Workspace) -> Workspace:
        state = self.state
        taken = workspace.id in state.workspaces
        if taken or (workspace.status is not Status.DELETED and state.live_named(workspace.name)):
            raise ConflictError(f"A workspace named {workspace.name!r} exists already.")
        state.workspaces[workspace.id] = _copy(workspace)
        state.workspace_writes += 1
        state.append_event(workspace.id, "status", workspace.status.value, "")
        state.enqueue(workspace.id)
        return workspace

    async def get(self, name: str) -> Workspace:
        found = self.state.live_named(name)
        if found is None:
            raise NotFoundError(f"No workspace named {name!r}.")
        return _copy(found)

    async def get_by_id(self, workspace_id: str) -> Workspace:
        found = self.state.workspaces.get(workspace_id)
        if found is None:
            raise NotFoundError(f"No workspace with id {workspace_id!r}.")
        return _copy(found)

    async def list(
        self,
        *,
        status: Status | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> Page:
        if limit < 0 or offset < 0:
            raise InvalidInputError("limit and offset must not be negative.")
        matching = [
            w
            for w in self.state.workspaces.values()
            if (w.status is status if status is not None else include_deleted or _live(w))
            and (owner is None or w.owner == owner)
        ]
        matching.sort(key=lambda w: (w.created_at, w.id))
        return Page(
            items=[_copy(w) for w in matching[offset : offset + limit]], total=len(matching)
        )

    async def save(
        self,
        workspace: Workspace,
        *,
        event: tuple[str, str, str] | None = None,
        enqueue: bool = False,
    ) -> Workspace:
        state = self.state
        stored = state.workspaces.get(workspace.id)
        if stored is None:
            raise NotFoundError(f"No workspace with id {workspace.id!r}.")
        if stored.version != workspace.version:
            raise StaleWriteError(
                f"Workspace {workspace.name!r} was changed meanwhile (version {stored.version}, "
                f"this copy is version {workspace.version}); read it again and retry."
            )
        other = state.live_named(workspace.name) if _live(workspace) else None
        if other is not None and other.id != workspace.id:
            raise ConflictError(f"A workspace named {workspace.name!r} exists already.")
        saved = replace(workspace, version=workspace.version + 1)
        # As in SQL, the creation time is never rewritten, whatever the copy says.
        state.workspaces[workspace.id] = _copy(replace(saved, created_at=stored.created_at))
        state.workspace_writes += 1
        if event is not None:
            state.append_event(workspace.id, *event)
        if enqueue:
            state.enqueue(workspace.id)
        return saved

    async def add_event(self, workspace_id: str, kind: str, value: str, detail: str = "") -> None:
        if workspace_id not in self.state.workspaces:
            raise NotFoundError(f"No workspace with id {workspace_id!r}.")
        self.state.append_event(workspace_id, kind, value, detail)

    async def latest_event_seq(self) -> int:
        return self.state.events[-1].seq if self.state.events else 0

    async def events(
        self, workspace_id: str | None, after: int = 0, limit: int = 1000
    ) -> Sequence[Event]:
        return [
            e for e in self.state.events if e.seq > after and workspace_id in (None, e.workspace_id)
        ][:limit]

    async def enqueue(self, workspace_id: str) -> None:
        if workspace_id not in self.state.workspaces:
            raise NotFoundError(f"No workspace with id {workspace_id!r}.")
        self.state.enqueue(workspace_id)

    async def ping(self) -> None:
        """Always readable: the state is in this process."""

    async def change_marker(self) -> int | None:
        return self.state.workspace_writes

    async def aclose(self) -> None:
        """Nothing to release; here so callers can close any store the same way."""


class InMemoryJobQueue:
    """The ``JobQueue`` port in memory; see ``tidepool.store.sql`` for the rules."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()

    async def backlog(self) -> Backlog:
        at = self.state.clock()
        due = [row.run_after for row in self.state.jobs.values() if row.run_after <= at]
        waited = (at - min(due)).total_seconds() if due else 0.0
        return Backlog(jobs=len(self.state.jobs), oldest_due_seconds=waited)

    async def claim(self, worker: str, lease_seconds: float) -> Job | None:
        at = self.state.clock()
        due = [
            row
            for row in self.state.jobs.values()
            if row.run_after <= at and (row.lease_until is None or row.lease_until <= at)
        ]
        if not due:
            return None
        row = min(due, key=lambda r: (r.run_after, r.id))
        row.lease_owner = worker
        row.lease_receipt = uuid.uuid4().hex
        row.lease_until = at + timedelta(seconds=lease_seconds)
        return Job(row.id, row.workspace_id, row.attempts, row.generation, row.lease_receipt)

    async def extend(self, job: Job, lease_seconds: float) -> None:
        row = self.state.held(job)
        if row is not None:
            row.lease_until = self.state.clock() + timedelta(seconds=lease_seconds)

    async def complete(self, job: Job) -> None:
        row = self.state.held(job)
        if row is None:
            return
        if row.generation == job.generation:
            del self.state.jobs[job.workspace_id]
        else:
            row.release()
            row.attempts, row.last_error = 0, ""

    async def retry(self, job: Job, delay_seconds: float, error: str) -> None:
        row = self.state.held(job)
        if row is None:
            return
        row.release()
        row.run_after = self.state.clock() + timedelta(seconds=max(delay_seconds, 0.0))
        row.attempts += 1
        row.last_error = error

    async def release_abandoned(self, dead: Callable[[str], bool]) -> int:
        at = self.state.clock()
        gone = [
            row
            for row in self.state.jobs.values()
            if row.lease_owner is not None
            and row.lease_until is not None
            and row.lease_until > at
            and dead(row.lease_owner)
        ]
        for row in gone:
            row.release()
        return len(gone)

    async def beat(self, worker: str) -> None:
        self.state.beats[worker] = self.state.clock()

    async def silent(self, after_seconds: float) -> set[str]:
        cutoff = self.state.clock() - timedelta(seconds=after_seconds)
        return {worker for worker, at in self.state.beats.items() if at < cutoff}

    async def aclose(self) -> None:
        """Nothing to release; the state lives as long as the store that shares it."""


def _live(workspace: Workspace) -> bool:
    return workspace.status is not Status.DELETED


def _copy(workspace: Workspace) -> Workspace:
    """A copy that shares nothing mutable with the original, as a database round trip."""
    return replace(workspace, runtime_state=json.loads(json.dumps(workspace.runtime_state)))
