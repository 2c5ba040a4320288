"""A workspace and its one status state machine.

``desired`` is what the user asked for (running, stopped, deleted); ``status`` is what the
reconciler last saw and did. Requests change ``desired``; only the reconciler moves ``status``,
and only along ``TRANSITIONS``. Every move is recorded with its time.

::

    pending ─► creating ─► starting ─► running ─► stopping ─► stopped ─► starting ...
       any ─► deleting ─► deleted          any step ─► failed (with the error)
    failed ─► starting | stopping | deleting   (start, stop or delete again recovers)
    running | stopped | failed ─► creating   (a rebuild: a new instance, the same home)
    running | stopped | failed ─► unavailable ─► starting | stopping   (its cluster member
       went away, and came back: nothing is wrong with the workspace itself)
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tidepool.domain.activity import StopReason
from tidepool.domain.home import has_pending_work
from tidepool.domain.names import WorkspaceName
from tidepool.domain.repositories import Repository
from tidepool.domain.templates import DEFAULT_TEMPLATE, Size
from tidepool.errors import ConflictError


class Status(enum.StrEnum):
    PENDING = "pending"
    CREATING = "creating"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"
    #: Its cluster member is offline; it comes back with the member.
    UNAVAILABLE = "unavailable"


class Desired(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    DELETED = "deleted"


class Action(enum.StrEnum):
    START = "start"
    STOP = "stop"
    DELETE = "delete"


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.PENDING: frozenset({S.CREATING, S.DELETING, S.FAILED}),
    S.CREATING: frozenset({S.STARTING, S.STOPPED, S.DELETING, S.FAILED}),
    S.STARTING: frozenset({S.RUNNING, S.STOPPING, S.DELETING, S.FAILED}),
    S.RUNNING: frozenset({S.STOPPING, S.STARTING, S.CREATING, S.DELETING, S.FAILED, S.UNAVAILABLE}),
    S.STOPPING: frozenset({S.STOPPED, S.DELETING, S.FAILED}),
    S.STOPPED: frozenset({S.STARTING, S.CREATING, S.DELETING, S.FAILED, S.UNAVAILABLE}),
    S.DELETING: frozenset({S.DELETED, S.FAILED}),
    S.DELETED: frozenset(),
    S.FAILED: frozenset({S.CREATING, S.STARTING, S.STOPPING, S.STOPPED, S.DELETING, S.UNAVAILABLE}),
    S.UNAVAILABLE: frozenset({S.STARTING, S.STOPPING, S.DELETING}),
}

#: Which statuses each user action may be asked from. A repeated delete is harmless (no-op).
ALLOWED_ACTIONS: dict[Action, frozenset[Status]] = {
    Action.START: frozenset({S.STOPPED, S.STOPPING, S.FAILED, S.UNAVAILABLE}),
    Action.STOP: frozenset({S.PENDING, S.CREATING, S.STARTING, S.RUNNING, S.FAILED, S.UNAVAILABLE}),
    Action.DELETE: frozenset(set(Status) - {S.DELETED}),
}
DESIRED_FOR: dict[Action, Desired] = {
    Action.START: Desired.RUNNING,
    Action.STOP: Desired.STOPPED,
    Action.DELETE: Desired.DELETED,
}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One entry of a workspace's history: a status, or a start-up phase, and when."""

    status: Status
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Workspace:
    name: WorkspaceName
    owner: str
    image: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    desired: Desired = Desired.RUNNING
    status: Status = Status.PENDING
    error: str = ""
    address: str | None = None
    #: Adapter-private state (an instance name, a VM id): the runtime owns its shape.
    runtime_state: dict[str, Any] = field(default_factory=dict)
    #: The template it was made from, and its size, fixed at creation.
    template: str = DEFAULT_TEMPLATE
    size: Size = field(default_factory=Size)
    #: Cloned into home at the first boot; None: an empty home.
    repository: Repository | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    #: Why it was last asked to stop (a ``StopReason`` value); "" until the first stop, and
    #: again once it is started.
    stop_reason: str = ""
    #: The user asked to keep it up (no idle stop) until then.
    keepalive_until: datetime | None = None
    #: The cluster member its instance lives on ("": not on a cluster, or not made yet).
    location: str = ""
    #: Bumped on every write; a write based on a stale copy is refused by the store.
    version: int = 1

    def request(self, action: Action, reason: StopReason = StopReason.USER) -> Workspace:
        """The workspace after a user asks for ``action``; ``ConflictError`` if not allowed.
        A stop records ``reason``; a start forgets the last one."""
        if action is Action.DELETE and self.desired is Desired.DELETED:
            return self  # deleting twice is harmless
        if self.status not in ALLOWED_ACTIONS[action]:
            raise ConflictError(
                f"Cannot {action.value} workspace {self.name!r} while it is {self.status.value}."
            )
        stop_reason = {Action.STOP: reason.value, Action.START: ""}.get(action, self.stop_reason)
        return replace(self, desired=DESIRED_FOR[action], stop_reason=stop_reason, updated_at=now())

    def move_to(self, status: Status, *, error: str = "", address: str | None = None) -> Workspace:
        """The workspace in ``status``; ``ConflictError`` if the state machine forbids it."""
        if status is self.status and status is not Status.FAILED:
            return self
        if status not in TRANSITIONS[self.status]:
            raise ConflictError(
                f"Workspace {self.name!r} cannot go from {self.status.value} to {status.value}."
            )
        return replace(
            self,
            status=status,
            error=error if status in (Status.FAILED, Status.UNAVAILABLE) else "",
            address=address if address is not None else self.address,
            updated_at=now(),
        )

    @property
    def settled(self) -> bool:
        """True when the status matches what the user asked for and no home work (a
        restore, a rebuild) is waiting: nothing left to do."""
        if has_pending_work(self.runtime_state) and self.desired is not Desired.DELETED:
            return False
        return {
            Desired.RUNNING: self.status is Status.RUNNING,
            Desired.STOPPED: self.status is Status.STOPPED,
            Desired.DELETED: self.status is Status.DELETED,
        }[self.desired]
