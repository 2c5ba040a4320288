"""The activity watch: what keeps each running workspace up, and the idle stop.

Every ``interval`` seconds it looks at all running workspaces at once (``ActivityProbe``: from
the host, nothing run inside them), turns what it saw into evidence (``domain.activity``) and
keeps, per workspace, the latest evidence ever seen. A workspace whose latest evidence is older
than its idle timeout is stopped, a clean stop recorded with the reason ``idle`` and the
evidence it relied on; some minutes before, its user is warned in the event stream (the web
app shows it) and in its open terminals.

What it never does: stop a workspace with running work (a process someone started is fresh
evidence at every look), or act on what it could not see: a workspace it has not looked at
since this ``serve`` started is active as of that first look, so a restart or an upgrade
postpones idle stops by at most one timeout rather than stopping anything early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tidepool.domain.activity import Evidence, IdlePolicy, Signal, StopReason, Verdict, latest
from tidepool.domain.ide import WORKSPACE_PORT
from tidepool.domain.identity import Identity
from tidepool.domain.work import describe, work
from tidepool.domain.workspace import Action, Desired, Status, Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.ports.activity import ActivityProbe, Observation, Watched
from tidepool.services.workspaces import WorkspaceService, instance_name, live_workspaces

log = logging.getLogger(__name__)

#: How many events one read of a workspace's log returns at most (the store's default).
EVENT_PAGE = 1000
#: Who idle stops are recorded as (in the audit log and the events): not a user name, which
#: cannot contain parentheses.
IDLE_WATCH = Identity("(idle stop)", admin=True, address="tidepool")


@dataclass(frozen=True, slots=True)
class Activity:
    """What the API shows: the latest evidence, and when an idle stop would come."""

    last: Evidence
    #: What was seen at the last look (empty: nothing now, ``last`` is from before).
    now: tuple[Evidence, ...]
    #: When the workspace will be stopped for idleness if nothing happens; None: never.
    idle_stop_at: datetime | None
    warned: bool = False


def evidence_of(workspace: Workspace, seen: Observation | None, now: datetime) -> list[Evidence]:
    """What one look at ``workspace`` proves, surest first."""
    found: list[Evidence] = []
    if seen is not None:
        working = work(seen.processes or ())
        if working:
            found.append(Evidence(Signal.WORK, now, describe(working)))
        if seen.ssh_tunnels:
            found.append(Evidence(Signal.SSH, now, f"{seen.ssh_tunnels} open"))
        for port, count in sorted(seen.connections.items()):
            what = "the IDE" if port == WORKSPACE_PORT else f"port {port}"
            found.append(Evidence(Signal.CONNECTION, now, f"{count} open to {what}"))
        if seen.ide_heartbeat is not None:
            found.append(Evidence(Signal.IDE, min(seen.ide_heartbeat, now), "code-server"))
    until = workspace.keepalive_until
    if until is not None and until > now:
        found.append(Evidence(Signal.KEEPALIVE, now, f"until {until.isoformat()}"))
    return found


class ActivityWatch:
    def __init__(
        self,
        store: WorkspaceStore,
        probe: ActivityProbe,
        workspaces: WorkspaceService,
        runtime: Runtime,
        policy_for: Callable[[Workspace], IdlePolicy | None],
        clock: Callable[[], datetime],
        interval: float,
        lifetime_for: Callable[[Workspace], IdlePolicy | None] = lambda _: None,
    ) -> None:
        self._store = store
        self._probe = probe
        self._workspaces = workspaces
        self._runtime = runtime
        self._policy_for = policy_for
        self._clock = clock
        self._interval = interval
        #: The admin's bound on a run, used or not (``max_lifetime_hours``): from the time the
        #: workspace last became running, with a warning as before an idle stop.
        self._lifetime_for = lifetime_for
        self._board: dict[str, Activity] = {}
        self._version = 0
        #: When each running workspace last became running, as read at its ``updated_at``
        #: (a stop and a start between two looks change it: read again then).
        self._running_since: dict[str, tuple[datetime, datetime]] = {}
        self._lifetime_warned: set[str] = set()
        #: Whether this process may act on what it sees (stop, warn): with several control
        #: planes, only the leader does; the others look, so the API shows the evidence.
        self.acts: Callable[[], bool] = lambda: True

    async def aclose(self) -> None:
        await self._probe.aclose()

    def activity(self, workspace_id: str) -> Activity | None:
        """The latest look at a running workspace; None if it is not running or not looked
        at yet."""
        return self._board.get(workspace_id)

    def board(self) -> Mapping[str, Activity]:
        return dict(self._board)

    def version(self) -> int:
        """Changes whenever any workspace's activity does (API pages kept by the store's
        change marker must not outlive it)."""
        return self._version

    async def keep(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except TidepoolError as error:
                log.warning("looking at workspaces' activity failed, will try again: %s", error)
            except Exception:
                log.exception("looking at workspaces' activity crashed, will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def look(self) -> Sequence[str]:
        """One look at every running workspace; the names of those it stopped."""
        running = [
            w
            async for w in live_workspaces(self._store)
            if w.status is Status.RUNNING and w.address
        ]
        before = dict(self._board)
        watched = [Watched(instance_name(w), w.address or "") for w in running]
        seen = await self._probe.observe(watched)
        now = self._clock()
        stopped = []
        for workspace in running:
            evidence = evidence_of(workspace, seen.get(instance_name(workspace)), now)
            activity = self._remember(workspace, evidence, now)
            if not self.acts():
                continue
            if await self._limit_lifetime(workspace, now) or await self._act(
                workspace, activity, now
            ):
                stopped.append(workspace.name)
        alive = {w.id for w in running}
        for gone in set(self._board) - alive:
            del self._board[gone]
        for gone in set(self._running_since) - alive:
            del self._running_since[gone]
            self._lifetime_warned.discard(gone)
        if self._board != before:
            self._version += 1
        return stopped

    def _remember(self, workspace: Workspace, evidence: list[Evidence], now: datetime) -> Activity:
        before = self._board.get(workspace.id)
        first = Evidence(Signal.START, now, "first look since the control plane started")
        last = latest([before.last if before else first, *evidence]) or first
        policy = self._policy_for(workspace)
        stop_at = policy.stops_at(last.at) if policy else None
        warned = bool(before and before.warned and before.last == last)
        activity = Activity(last=last, now=tuple(evidence), idle_stop_at=stop_at, warned=warned)
        self._board[workspace.id] = activity
        return activity

    async def _act(self, workspace: Workspace, activity: Activity, now: datetime) -> bool:
        policy = self._policy_for(workspace)
        if policy is None or workspace.desired is not Desired.RUNNING:
            return False
        verdict = policy.verdict(activity.last.at, now)
        if verdict is Verdict.WARN and not activity.warned:
            await self._warn(workspace, activity)
        if verdict is not Verdict.STOP:
            return False
        last = activity.last
        since = last.at.isoformat(timespec="seconds")
        why = f"no activity since {since} (last: {last.signal.value} {last.detail})".strip()
        return await self._stop(workspace, StopReason.IDLE, "idle", why)

    async def _stop(self, workspace: Workspace, reason: StopReason, kind: str, why: str) -> bool:
        """Ask for the stop, then say why in the event log. In that order: a crash between the
        two leaves a stop without its explanation (its reason is on the request), never an
        explanation of a stop that did not happen."""
        try:
            await self._workspaces.request(
                workspace.name, Action.STOP, who=IDLE_WATCH, reason=reason
            )
        except TidepoolError as error:
            log.warning("the %s stop of %s failed, will try again: %s", kind, workspace.name, error)
            return False
        await self._store.add_event(workspace.id, kind, "stop", why)
        log.info("stopped %s (%s): %s", workspace.name, reason.value, why)
        return True

    async def _warn(self, workspace: Workspace, activity: Activity) -> None:
        at = activity.idle_stop_at
        when = at.isoformat(timespec="seconds") if at else "soon"
        await self._store.add_event(workspace.id, "idle", "warning", f"stops at {when}")
        self._board[workspace.id] = replace(activity, warned=True)
        await self._notify(
            workspace,
            f"This workspace has been idle and will stop at {when} UTC. "
            "Type, open it, or run `tidepool workspace keepalive` to keep it up.",
        )

    async def _notify(self, workspace: Workspace, text: str) -> None:
        try:
            notice = f"\r\n[tidepool] {text}\r\n"
            await self._runtime.exec(instance_name(workspace), [*NOTIFY, notice], timeout=10)
        except TidepoolError as error:
            log.info("could not write a notice in %s's terminals: %s", workspace.name, error)

    async def _limit_lifetime(self, workspace: Workspace, now: datetime) -> bool:
        """Warn, then stop (reason ``max_lifetime``), a workspace running for too long."""
        limit = self._lifetime_for(workspace)
        if limit is None or workspace.desired is not Desired.RUNNING:
            return False
        read = self._running_since.get(workspace.id)
        if read is None or read[0] != workspace.updated_at:
            read = self._running_since[workspace.id] = (
                workspace.updated_at,
                await self._started(workspace, now),
            )
        since = read[1]
        verdict = limit.verdict(since, now)
        when = limit.stops_at(since).isoformat(timespec="seconds")
        if verdict is Verdict.WARN and workspace.id not in self._lifetime_warned:
            self._lifetime_warned.add(workspace.id)
            await self._store.add_event(workspace.id, "lifetime", "warning", f"stops at {when}")
            await self._notify(
                workspace, f"This workspace reaches its longest run and will stop at {when} UTC."
            )
        if verdict is not Verdict.STOP:
            return False
        running = f"running since {since.isoformat(timespec='seconds')}"
        return await self._stop(workspace, StopReason.MAX_LIFETIME, "lifetime", running)

    async def _started(self, workspace: Workspace, now: datetime) -> datetime:
        """When it last became running, from its event log (``now`` if none says)."""
        last, after = None, 0
        while True:
            events = await self._store.events(workspace.id, after=after)
            for event in events:
                if event.kind == "status" and event.value == Status.RUNNING.value:
                    last = event.at
            if len(events) < EVENT_PAGE:
                return last or now
            after = events[-1].seq


#: Writes its argument to every open terminal: output to the terminal, never input (no
#: keystroke reaches what runs there), and a terminal that cannot be written is skipped.
NOTIFY = (
    "sh",
    "-c",
    'for t in /dev/pts/[0-9]*; do [ -c "$t" ] && printf "%s" "$1" > "$t"; done 2>/dev/null; exit 0',
    "notify",
)
