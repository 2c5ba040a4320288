"""The ports: what the services need from the outside world, as ``typing.Protocol``s.

Each contract is written here, where it is defined. Adapters (Incus, Tart, Caddy) and the
in-memory fakes used by unit tests implement them; ``tests/contract`` runs one suite over each
fake and its real adapter so the two cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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

    name: str
    image: str
    cpus: int = 2
    memory_mib: int = 2048
    #: Written to ``/etc/tidepool/workspace.env`` inside the instance before its first boot.
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceState:
    """A runtime's view of one instance at one moment."""

    name: str
    status: InstanceStatus
    ipv4: str | None = None


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

    async def start(self, name: str) -> None:
        """Start the instance; starting a running instance is a no-op. ``NotFoundError``."""
        ...

    async def stop(self, name: str) -> None:
        """Stop the instance cleanly; stopping a stopped instance is a no-op. ``NotFoundError``."""
        ...

    async def delete(self, name: str) -> None:
        """Stop (forcefully) and delete the instance and its disk. ``NotFoundError``."""
        ...

    async def state(self, name: str) -> InstanceState:
        """Return the instance's status and IPv4 address. ``NotFoundError``."""
        ...

    async def list(self) -> Sequence[InstanceState]:
        """Return every instance this runtime manages for Tidepool."""
        ...

    async def wait_for_ipv4(self, name: str, timeout: float) -> str:
        """Wait until the running instance has an IPv4 address. ``TimeoutExpiredError``."""
        ...

    async def exec(
        self,
        name: str,
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
        self, name: str, path: str, content: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
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

    async def add(self, name: str, address: str) -> bool:
        """Route ``name`` to ``address``; return False if that exact route existed (a no-op).

        A route of the same name to another address is replaced.
        """
        ...

    async def remove(self, name: str) -> None:
        """Remove the route. ``NotFoundError`` if there is none."""
        ...

    async def list(self) -> Mapping[str, str]:
        """Return every route as ``{name: address}``."""
        ...

    async def replace_all(self, routes: Mapping[str, str]) -> None:
        """Make the routes exactly ``routes``, in one atomic change."""
        ...

    async def aclose(self) -> None:
        """Release the connection to the proxy; the table is not used afterwards."""
        ...
