"""Each control plane's own Caddy routes every workspace, whichever control plane made it.

With several ``serve`` on one PostgreSQL, a workspace is created, started or stopped by
whichever worker claims its job, and that worker writes the route into its own Caddy only.
The others follow the database: whenever the store says something changed (its doorbell, rung
in this process by its own writes and by notifications of everyone else's, or its change
marker, looked at every ``every`` seconds), the route table is brought to the plan
(``services.resync.follow_routes``). A route is a file write, so following costs one read of
the live workspaces per change.
"""

from __future__ import annotations

import asyncio
import logging

from tidepool.domain.doorbell import Doorbell
from tidepool.errors import TidepoolError
from tidepool.ports import RouteTable, WorkspaceStore
from tidepool.services.resync import follow_routes

log = logging.getLogger(__name__)

#: How often the change marker is looked at when no doorbell rings: the longest a route
#: written for another control plane's workspace waits (when notifications are down).
FOLLOW_SECONDS = 1.0


async def follow(
    store: WorkspaceStore, routes: RouteTable, stop: asyncio.Event, every: float = FOLLOW_SECONDS
) -> None:
    """Until ``stop``: the route table brought to the database's plan at each change."""
    seen: int | None = None
    while not stop.is_set():
        ticket = store.doorbell.ticket()
        try:
            marker = await store.change_marker()
            if marker is None or marker != seen:
                report = await follow_routes(store, routes)
                if report.orphan_routes_removed or report.routes_restored:
                    log.info(
                        "routes follow the database: %d added or changed, %d removed",
                        len(report.routes_restored),
                        len(report.orphan_routes_removed),
                    )
                seen = marker
        except TidepoolError as error:
            log.warning("following routes failed, will try again: %s", error)
        except Exception:
            log.exception("following routes crashed, will try again")
        if stop.is_set():
            return
        await Doorbell.wait(ticket, every)
