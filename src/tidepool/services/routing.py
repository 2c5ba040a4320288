"""Bringing a route table to what ``tidepool.domain.routing.plan_routes`` says.

``tidepool serve``'s start-up (and every time Caddy comes back) and the periodic resync both
converge routes through here; the single-workspace steps (the reconciler's start, stop and
delete) add or remove their one route themselves, by the same rule.
"""

from __future__ import annotations

import contextlib

from tidepool.domain.routing import RoutePlan, plan_routes
from tidepool.errors import NotFoundError
from tidepool.ports import RouteTable, WorkspaceStore
from tidepool.services.workspaces import live_workspaces


async def apply_route_plan(routes: RouteTable, plan: RoutePlan) -> None:
    """Add and change first, remove last: a route being changed is never briefly absent."""
    for name, route in sorted({**plan.add, **plan.change}.items()):
        await routes.add(name, route.address, route.owner)
    for name in plan.remove:
        with contextlib.suppress(NotFoundError):  # gone already: that is what was wanted
            await routes.remove(name)


async def converge_routes(store: WorkspaceStore, routes: RouteTable) -> RoutePlan:
    """Plan against the table as it is now and apply the plan; return what was done.

    The table is read before the database, for the reason ``resync`` gives.
    """
    current = dict(await routes.entries())
    workspaces = [w async for w in live_workspaces(store)]
    plan = plan_routes(workspaces, current)
    await apply_route_plan(routes, plan)
    return plan
