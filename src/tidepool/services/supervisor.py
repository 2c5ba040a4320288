"""Keeping the front door (Caddy) up and its routes equal to what the database says.

Caddy is checked every ``check_seconds``: gone (killed, crashed, reaped), replaced by another
process, or its config's inputs changed (a user added or removed), it is started again with
today's config and the route table is brought to ``plan_routes`` over the database.

A death is restarted at once, but a Caddy that keeps dying, or will not start, is a crash
loop: ``RestartPolicy`` spaces the starts out (``domain.restarts``). Every change of state
(up, restarting, backing off, with the last death's cause) is logged and published to a
``FrontDoorReport``, where ``tidepool service status`` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from tidepool.domain.front_door import FrontDoorState, Phase, describe
from tidepool.domain.restarts import Death, RestartPolicy, Restarts
from tidepool.domain.routing import RoutePlan
from tidepool.ports import FrontDoor, FrontDoorReport, RouteTable, WorkspaceStore
from tidepool.services.routing import converge_routes

log = logging.getLogger(__name__)


class _Unread:
    """A ``FrontDoorReport`` nobody reads (by-hand commands, some tests)."""

    def publish(self, state: FrontDoorState) -> None:
        """Nothing to do."""


class FrontDoorSupervisor:
    def __init__(
        self,
        door: FrontDoor,
        store: WorkspaceStore,
        routes: RouteTable,
        *,
        check_seconds: float = 1.0,
        policy: RestartPolicy | None = None,
        report: FrontDoorReport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._door = door
        self._store = store
        self._routes = routes
        self._check_seconds = check_seconds
        self._policy = policy or RestartPolicy()
        self._report = report or _Unread()
        #: Decisions use ``clock``; ``wall`` only dates the next start for another process.
        self._clock = clock
        self._wall = wall
        self._restarts = Restarts()
        #: The pid and config inputs last seen healthy.
        self._seen: tuple[int | None, tuple[float, ...]] | None = None
        #: Why the front door is being brought back ("" when it is not).
        self._bringing_back = ""
        self._published: FrontDoorState | None = None

    @property
    def restarts(self) -> Restarts:
        """The policy's record: deaths in a row, the last one, when to start next."""
        return self._restarts

    async def rebuild(self) -> RoutePlan:
        """Start the front door if needed, with today's config, and converge the routes."""
        await self._door.start()
        plan = await converge_routes(self._store, self._routes)
        routed = len(await self._routes.entries())
        log.info("front door ready: %d routes (%s)", routed, _summary(plan))
        return plan

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: ``check`` the front door, then wait as long as it says."""
        self._seen = (self._door.pid(), self._door.config_inputs())
        if self._seen[0] is not None:
            self._publish(Phase.UP)
        wait = self._check_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            wait = await self.check()

    async def check(self) -> float:
        """One look: notice a dead or replaced front door, or new config inputs, and bring
        it back unless the policy says to wait. Returns the seconds until the next look."""
        now = self._clock()
        if self._seen is None:
            self._seen = (self._door.pid(), self._door.config_inputs())
        if not self._bringing_back:
            self._bringing_back = self._what_changed(now)
            if not self._bringing_back:
                self._restarts = self._restarts.settled(now, self._policy)
                self._publish(Phase.UP)
                return self._check_seconds
        wait = self._restarts.wait(now)
        if wait > 0:
            return wait  # published as backing off when the death was recorded
        self._publish(Phase.RESTARTING)
        try:
            await self.rebuild()
        except Exception as error:
            log.exception("could not bring the front door back")
            return self._died(Death(failed_start=str(error) or type(error).__name__))
        self._restarts = self._restarts.started(self._clock())
        self._seen = (self._door.pid(), self._door.config_inputs())
        self._bringing_back = ""
        self._publish(Phase.UP)
        return self._check_seconds

    def _what_changed(self, now: float) -> str:
        """Why the front door must be brought back ("" if it need not), its death recorded."""
        assert self._seen is not None
        pid, inputs = self._seen
        current = self._door.pid()
        if current is not None and pid is None:
            pid = current  # it wrote its pid file after we first looked
            self._seen = (pid, inputs)
        if current is None or current != pid:
            self._died(self._door.last_death() or Death())
            return "it is gone"
        if inputs != self._door.config_inputs():
            log.warning("front door config inputs changed; loading today's config")
            return "its config inputs changed"
        return ""

    def _died(self, death: Death) -> float:
        """Record a death (or failed start), say so, and return the wait before a start."""
        now = self._clock()
        self._restarts = self._restarts.died(death, now, self._policy)
        self._bringing_back = self._bringing_back or "it is gone"
        wait = self._restarts.wait(now)
        state = self._publish(Phase.BACKING_OFF if wait > 0 else Phase.RESTARTING)
        log.warning("front door down: %s", " ".join(describe(state, self._wall())))
        return wait

    def _publish(self, phase: Phase) -> FrontDoorState:
        restarts = self._restarts
        wait = restarts.wait(self._clock())
        last = restarts.last
        state = FrontDoorState(
            phase=phase,
            pid=self._door.pid() if phase is Phase.UP else None,
            deaths=restarts.deaths,
            span_seconds=restarts.span,
            last_cause=last.cause if last else "",
            last_lines=last.last_lines if last else (),
            reason="" if restarts.deaths else self._bringing_back,
            next_start_at=self._wall() + wait if phase is Phase.BACKING_OFF else None,
        )
        if state != self._published:
            try:
                self._report.publish(state)
            except Exception:
                log.exception("could not publish the front door's state")
            self._published = state
        return state


def _summary(plan: RoutePlan) -> str:
    if plan.empty:
        return "nothing to change"
    return f"{len(plan.add)} added, {len(plan.change)} changed, {len(plan.remove)} removed"
