"""Keeping the front door (Caddy) up and its routes equal to what the database says.

Caddy is checked every ``check_seconds``: gone (killed, crashed, reaped), replaced by another
process, or its config's inputs changed (a user added or removed), it is started again with
today's config and the route table is brought to ``plan_routes`` over the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tidepool.domain.routing import RoutePlan
from tidepool.ports import FrontDoor, RouteTable, WorkspaceStore
from tidepool.services.routing import converge_routes

log = logging.getLogger(__name__)


class FrontDoorSupervisor:
    def __init__(
        self,
        door: FrontDoor,
        store: WorkspaceStore,
        routes: RouteTable,
        *,
        check_seconds: float = 1.0,
    ) -> None:
        self._door = door
        self._store = store
        self._routes = routes
        self._check_seconds = check_seconds

    async def rebuild(self) -> RoutePlan:
        """Start the front door if needed, with today's config, and converge the routes."""
        await self._door.start()
        plan = await converge_routes(self._store, self._routes)
        routed = len(await self._routes.entries())
        log.info("front door ready: %d routes (%s)", routed, _summary(plan))
        return plan

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: notice a dead or replaced front door, or new config inputs, and
        rebuild; a failed rebuild is logged and tried again at the next check."""
        pid, inputs = self._door.pid(), self._door.config_inputs()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._check_seconds)
            if stop.is_set():
                return
            current = self._door.pid()
            if current is not None and pid is None:
                pid = current  # it wrote its pid file after we first looked
            if current is not None and current == pid and inputs == self._door.config_inputs():
                continue
            log.warning(
                "front door %s; bringing it back",
                "is gone" if current is None or current != pid else "config inputs changed",
            )
            try:
                await self.rebuild()
            except Exception:
                log.exception("could not bring the front door back; will try again")
                continue
            pid, inputs = self._door.pid(), self._door.config_inputs()


def _summary(plan: RoutePlan) -> str:
    if plan.empty:
        return "nothing to change"
    return f"{len(plan.add)} added, {len(plan.change)} changed, {len(plan.remove)} removed"
