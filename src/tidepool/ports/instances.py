"""The ports of what runs workspaces and reaches them: the runtime, the routes, the front door."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tidepool.domain.front_door import FrontDoorState
from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.restarts import Death
from tidepool.domain.routing import Route


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
    #: Where on a cluster (``domain.placement.target_for``); None: the runtime chooses.
    target: str | None = None


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

    async def take(self, name: InstanceName, expected: InstanceOwner, owner: InstanceOwner) -> bool:
        """Record ``owner`` with the instance if it records ``expected`` now, as one
        compare-and-swap: of two callers expecting the same owner, one gets True, the other
        False. False too if it records anything else. ``NotFoundError``."""
        ...

    async def image_id(self, image: str) -> str:
        """What ``image`` is now, as an id that changes when the image behind the name is
        replaced (a warm pool of the old one is drained). ``NotFoundError``."""
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
