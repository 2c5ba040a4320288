"""Which routes should exist: the one rule, and the plan that brings a route table to it.

Every place that touches routes in bulk (the reconciler's start-up rebuild, the periodic
resync, ``tidepool serve`` taking over a Caddy) asks ``plan_routes`` and applies what it
returns, so they cannot disagree about what is routed. The rule:

- a ``running`` workspace with an address is routed to that address, for its owner;
- a workspace in the middle of a transition (creating, starting, stopping, deleting) is left
  exactly as it is: the job working on it adds or removes its route itself, and a bulk pass
  that raced it would undo that job's step;
- anything else (pending, stopped, failed, deleted, or no workspace of that name) has no
  route.

Pure code: no I/O, so it is tested as a table of cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tidepool.domain.names import WorkspaceName
from tidepool.domain.workspace import Status, Workspace

#: Statuses a job is working through right now: their routes are the job's business.
IN_TRANSITION = frozenset({Status.CREATING, Status.STARTING, Status.STOPPING, Status.DELETING})


@dataclass(frozen=True, slots=True)
class Route:
    """Where a workspace's requests go, and who may send them (empty: admins only)."""

    address: str
    owner: str = ""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What to change in a route table: routes to add, routes to point elsewhere, names to
    unroute. Applying it in any order gives the same table."""

    add: Mapping[WorkspaceName, Route] = field(default_factory=dict)
    change: Mapping[WorkspaceName, Route] = field(default_factory=dict)
    remove: tuple[WorkspaceName, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.remove)


def wanted_route(workspace: Workspace) -> Route | None:
    """The route a settled workspace should have, or None for no route."""
    if workspace.status is Status.RUNNING and workspace.address:
        return Route(workspace.address, workspace.owner)
    return None


def plan_routes(
    workspaces: Iterable[Workspace], current: Mapping[WorkspaceName, Route]
) -> RoutePlan:
    """The changes that make ``current`` follow the rule for ``workspaces``.

    ``workspaces`` are the live ones (deleted ones may be left out: a name without a live
    workspace has no route). A name may appear once; a later duplicate wins.
    """
    by_name = {w.name: w for w in workspaces}
    add: dict[WorkspaceName, Route] = {}
    change: dict[WorkspaceName, Route] = {}
    remove: list[WorkspaceName] = []
    for name, workspace in by_name.items():
        if workspace.status in IN_TRANSITION:
            continue
        route = wanted_route(workspace)
        if route is None:
            continue
        if name not in current:
            add[name] = route
        elif current[name] != route:
            change[name] = route
    for name in sorted(current):
        owner = by_name.get(name)
        if owner is not None and owner.status in IN_TRANSITION:
            continue
        if owner is None or wanted_route(owner) is None:
            remove.append(name)
    return RoutePlan(add=add, change=change, remove=tuple(remove))
