"""The ports: what the services need from the outside world, as ``typing.Protocol``s.

Each contract is written here, where it is defined. Adapters (Incus, Tart, Caddy) and the
in-memory fakes used by unit tests implement them; ``tests/contract`` runs one suite over each
fake and its real adapter so the two cannot drift apart.

The contracts live in two modules (``instances``: runtime, routes, front door; ``data``: store,
queue, audit trail); everything is imported from here.
"""

from tidepool.ports.data import (
    AuditTrail,
    Backlog,
    Event,
    HasBacklog,
    Job,
    JobQueue,
    Page,
    WorkspaceStore,
)
from tidepool.ports.instances import (
    ExecResult,
    FrontDoor,
    FrontDoorReport,
    InstanceSpec,
    InstanceState,
    InstanceStatus,
    RouteTable,
    Runtime,
)
from tidepool.ports.leadership import Leadership

__all__ = [
    "AuditTrail",
    "Backlog",
    "Event",
    "ExecResult",
    "FrontDoor",
    "FrontDoorReport",
    "HasBacklog",
    "InstanceSpec",
    "InstanceState",
    "InstanceStatus",
    "Job",
    "JobQueue",
    "Leadership",
    "Page",
    "RouteTable",
    "Runtime",
    "WorkspaceStore",
]
