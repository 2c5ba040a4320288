"""The ports: what the services need from the outside world, as ``typing.Protocol``s.

Each contract is written here, where it is defined. Adapters (Incus, Tart, Caddy) and the
in-memory fakes used by unit tests implement them; ``tests/contract`` runs one suite over each
fake and its real adapter so the two cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tidepool.domain.audit import AuditEntry, AuditQuery
from tidepool.domain.doorbell import Doorbell
from tidepool.domain.front_door import FrontDoorState
from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.restarts import Death
from tidepool.domain.routing import Route
from tidepool.domain.workspace import Status, Workspace


class InstanceStatus(enum.StrEnum):
    """What a runtime reports an instance to be doing."""

    RUNNING = "running"
    STOPPED = "stopped"
    STARTING = "starting"
    STOPPING = "stopping"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """How to create one workspace instance."""

    name: InstanceName
    image: str
    cpus: int = 2
    memory_mib: int = 2048
    #: The root disk's size; None: no limit but the storage pool's.
    disk_gib: int | None = None
    #: Written to ``/etc/tidepool/workspace.env`` inside the instance before its first boot.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: Recorded with the instance, in the runtime's own metadata (``Runtime.owner``).
    owner: InstanceOwner | None = None


@dataclass(frozen=True, slots=True)
class InstanceState:
    """A runtime's view of one instance at one moment."""

    #: As the runtime reports it: ``is_instance_name`` tells which are Tidepool's.
    name: str
    status: InstanceStatus
    ipv4: str | None = None
    #: Who made it, as the instance records it; filled by ``list()`` (None: not recorded).
    owner: InstanceOwner | None = None


@dataclass(frozen=True, slots=True)
class ExecResult:
    """The outcome of a command run inside an instance."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class Runtime(Protocol):
    """Creates and drives the isolated machines that workspaces run in.

    Names are already validated (``tidepool.domain.names``). Every method raises
    ``RuntimeUnavailableError`` when the runtime cannot be reached at all and
    ``RuntimeOperationError`` (quoting the runtime) when an operation fails.
    """

    async def create(self, spec: InstanceSpec) -> InstanceState:
        """Create the instance, stopped, from ``spec.image``.

        Raises ``ConflictError`` if an instance of that name exists, ``NotFoundError`` if the
        image does not.
        """
        ...

    async def start(self, name: InstanceName) -> None:
        """Start the instance; starting a running instance is a no-op. ``NotFoundError``."""
        ...

    async def stop(self, name: InstanceName) -> None:
        """Stop the instance cleanly; stopping a stopped instance is a no-op. ``NotFoundError``."""
        ...

    async def delete(self, name: InstanceName) -> None:
        """Stop (forcefully) and delete the instance and its disk. ``NotFoundError``."""
        ...

    async def state(self, name: InstanceName) -> InstanceState:
        """Return the instance's status and IPv4 address. ``NotFoundError``."""
        ...

    async def list(self) -> Sequence[InstanceState]:
        """Return every instance this runtime manages for Tidepool, each with its
        recorded owner."""
        ...

    async def owner(self, name: InstanceName) -> InstanceOwner | None:
        """The owner recorded with the instance (None if it records none). ``NotFoundError``."""
        ...

    async def claim(self, name: InstanceName, owner: InstanceOwner) -> None:
        """Record ``owner`` with the instance, replacing what it recorded; the instance is
        not restarted and nothing in it changes. ``NotFoundError``."""
        ...

    async def wait_for_ipv4(self, name: InstanceName, timeout: float) -> str:
        """Wait until the running instance has an IPv4 address. ``TimeoutExpiredError``."""
        ...

    async def exec(
        self,
        name: InstanceName,
        argv: Sequence[str],
        *,
        user: int | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ExecResult:
        """Run ``argv`` (no shell) inside the running instance and return its output.

        A non-zero exit is a result, not an error; failing to run at all raises.
        """
        ...

    async def push_file(
        self,
        name: InstanceName,
        path: str,
        content: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
    ) -> None:
        """Write ``content`` to the absolute ``path`` inside the instance."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes the runtime holds; it is not used afterwards."""
        ...


@runtime_checkable
class RouteTable(Protocol):
    """Maps workspace names to the address of their instance at the proxy.

    A route sends ``/workspace/{name}/...`` to port 8080 of ``address`` with the prefix stripped.
    """

    async def add(self, name: WorkspaceName, address: str, owner: str = "") -> bool:
        """Route ``name`` to ``address``; return False if that exact route existed (a no-op).

        A route of the same name to another address (or owner) is replaced. With
        authentication on, only ``owner`` (and admins) get through; an empty owner means
        admins only.
        """
        ...

    async def remove(self, name: WorkspaceName) -> None:
        """Remove the route. ``NotFoundError`` if there is none."""
        ...

    async def list(self) -> Mapping[WorkspaceName, str]:
        """Return every route as ``{name: address}``."""
        ...

    async def entries(self) -> Mapping[WorkspaceName, Route]:
        """Return every route with its owner, as ``{name: Route}``."""
        ...

    async def aclose(self) -> None:
        """Release the connection to the proxy; the table is not used afterwards."""
        ...


@runtime_checkable
class FrontDoor(Protocol):
    """The proxy process in front of every workspace (Caddy), as whoever starts or
    supervises it sees it. Its routes are the ``RouteTable``; this is the process."""

    def pid(self) -> int | None:
        """The process id while it serves, None once it is gone (a zombie counts as gone)."""
        ...

    def last_death(self) -> Death | None:
        """How the last process ``pid`` found gone ended: exit code or signal, whether it
        was out of memory when that can be known, and the end of its own log. None until one
        died, and again once ``start`` started another."""
        ...

    def config_inputs(self) -> tuple[float, ...]:
        """A token of what its config is made from besides routes (the users): when it
        changes, ``start`` must run again to load the new config."""
        ...

    async def start(self) -> bool:
        """Start it unless it runs, and load the config today's settings call for (whatever
        it resumed from). True if a process was started."""
        ...

    async def stop(self) -> bool:
        """Stop it; True if it was running."""
        ...

    async def aclose(self) -> None: ...


class FrontDoorReport(Protocol):
    """Where the front door's supervisor leaves its state for ``tidepool service status``,
    another process. A small local write: it must not block for long, and it must not raise
    for a state it cannot store (the supervisor keeps Caddy up whether or not anyone reads)."""

    def publish(self, state: FrontDoorState) -> None:
        """Replace the last published state with ``state``, at once for a reader."""
        ...


# --- the control plane's data -------------------------------------------------------------------


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
