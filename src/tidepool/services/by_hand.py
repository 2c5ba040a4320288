"""The seed's by-hand commands (``vm start``, ``route add``, ``route remove``, ``vm stop``,
``vm delete``, ``down``) as steps on the control plane's own records.

There is one world: each command writes what the user wants into the workspace's row, exactly
as the API does. Then one actor does the steps: the platform's worker when ``tidepool serve``
runs on this data directory (the command follows the workspace's events until the step it
asked for is done), else the command itself, running the same reconciler in its own process
while it holds the serve lock shared, so a ``serve`` starting meanwhile waits for it. Two
actors never create one instance at the same moment. A workspace made this way is an
ordinary workspace: ``serve`` lists, routes, stops and deletes it, and never removes its
route or its instance.

A route exists exactly when its workspace runs (``tidepool.domain.routing``), so
``route add`` brings the workspace to ``running`` (the IDE must answer) and ``route remove``
stops it, files kept: a workspace that runs unreachable is one the control plane would
route again at its next pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidepool.domain.identity import Identity
from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.domain.workspace import DESIRED_FOR, Action, Desired, Status, Workspace
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeOperationError,
    StaleWriteError,
    TimeoutExpiredError,
)
from tidepool.ports import RouteTable, Runtime, WorkspaceStore
from tidepool.services.reconcile import Reconciler
from tidepool.services.workspaces import WorkspaceService, instance_name

#: How many times a step re-reads and runs again when another writer got there first.
RACE_RETRIES = 10
#: How long a command follows the worker's progress (it retries a slow boot, a slow IDE).
WORKER_WAIT_SECONDS = 600.0
WORKER_POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Removed:
    """What ``down`` found and removed."""

    route: bool
    instance: bool


class ByHand:
    def __init__(
        self,
        workspaces: WorkspaceService,
        reconciler: Reconciler,
        runtime: Runtime,
        routes: RouteTable,
        store: WorkspaceStore,
        *,
        who: Identity,
        platform_runs: bool = False,
    ) -> None:
        self._workspaces = workspaces
        self._reconciler = reconciler
        self._runtime = runtime
        self._routes = routes
        self._store = store
        #: Who the commands act as: the host itself (root, who may reach the database).
        self._who = who
        #: True when ``serve`` runs on this data directory: its worker does the steps.
        self._platform_runs = platform_runs

    async def instance_of(self, name: WorkspaceName) -> InstanceName:
        """The instance behind ``name``; ``NotFoundError`` naming the way to make one."""
        return instance_name(await self._workspace(name))

    async def start(self, name: WorkspaceName, image: str | None = None) -> Workspace:
        """``vm start``: the workspace exists and is meant to run; its instance runs and has
        an address (the IDE and the route are ``route add``'s, or the worker's)."""
        since = await self._store.latest_event_seq()
        workspace = await self._workspaces.ensure_running(name, who=self._who, image=image)
        if workspace.status is Status.RUNNING:
            return workspace
        if self._platform_runs:
            return await self._worker_reaches(workspace, since, Status.RUNNING, phase="booted")
        return await self._until_settled(lambda: self._reconciler.boot(workspace.id))

    async def route(self, name: WorkspaceName, address: str) -> tuple[Workspace, bool]:
        """``route add``: the workspace runs and is routed to ``address``, which must be its
        instance's. Returns the workspace and whether the route is new."""
        workspace = await self._workspace(name)
        state = await self._runtime.state(instance_name(workspace))
        if state.ipv4 and state.ipv4 != address:
            raise InvalidInputError(
                f"Workspace {name}'s instance is at {state.ipv4}, not {address}; "
                f"`tidepool route add -n {name} -i {state.ipv4}`."
            )
        before = (await self._routes.entries()).get(name)
        since = await self._store.latest_event_seq()
        workspace = await self._workspaces.ensure_running(name, who=self._who)
        workspace = await self._converge(workspace, since, Status.RUNNING)
        after = (await self._routes.entries()).get(name)
        return workspace, after != before

    async def unroute(self, name: WorkspaceName) -> Workspace:
        """``route remove``: the route goes, and with it the run (files kept)."""
        await self._workspace(name)
        if name not in await self._routes.entries():
            raise NotFoundError(f"There is no route for workspace {name!r}.")
        return await self.stop(name)

    async def run(self, name: WorkspaceName) -> Workspace:
        """The workspace started and routed (an adopted one, say), by the worker if
        ``serve`` runs, else here."""
        return await self._act(name, Action.START)

    async def stop(self, name: WorkspaceName) -> Workspace:
        """``vm stop``: route removed, instance stopped, files kept."""
        return await self._act(name, Action.STOP)

    async def delete(self, name: WorkspaceName) -> Removed:
        """``vm delete`` and ``down``: route and instance removed, the workspace deleted."""
        workspace = await self._workspace(name)
        routed = name in await self._routes.entries()
        try:
            await self._runtime.state(instance_name(workspace))
            existed = True
        except NotFoundError:
            existed = False
        await self._act(name, Action.DELETE)
        return Removed(route=routed, instance=existed)

    async def _act(self, name: WorkspaceName, action: Action) -> Workspace:
        since = await self._store.latest_event_seq()
        workspace = await self._workspace(name)
        if workspace.desired is not DESIRED_FOR[action] or not workspace.settled:
            workspace = await self._workspaces.request(name, action, who=self._who)
        return await self._converge(workspace, since, SETTLED_AS[DESIRED_FOR[action]])

    async def _converge(self, workspace: Workspace, since: int, status: Status) -> Workspace:
        """Bring ``workspace`` to ``status``: the worker's job if the platform runs, else
        this process's reconcile."""
        if workspace.status is status and workspace.settled:
            return workspace
        if self._platform_runs:
            return await self._worker_reaches(workspace, since, status)
        return await self._until_settled(lambda: self._reconciler.reconcile(workspace.id))

    async def _worker_reaches(
        self, workspace: Workspace, since: int, status: Status, phase: str = ""
    ) -> Workspace:
        """Follow the workspace's events after ``since`` until it reaches ``status`` (or
        ``phase``); its failure is this command's."""
        deadline = asyncio.get_running_loop().time() + WORKER_WAIT_SECONDS
        while True:
            for event in await self._store.events(workspace.id, after=since):
                since = event.seq
                if event.kind == "status" and event.value == Status.FAILED.value:
                    error = event.detail
                    raise RuntimeOperationError(f"Workspace {workspace.name} failed: {error}")
                if (event.kind, event.value) in (("status", status.value), ("phase", phase)):
                    return await self._store.get_by_id(workspace.id)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutExpiredError(
                    f"Workspace {workspace.name} did not become {status.value} in "
                    f"{WORKER_WAIT_SECONDS:.0f} s; `tidepool service logs` shows why."
                )
            await asyncio.sleep(WORKER_POLL_SECONDS)

    async def _workspace(self, name: WorkspaceName) -> Workspace:
        try:
            return await self._workspaces.get(name, who=self._who)
        except NotFoundError:
            raise NotFoundError(
                f"There is no workspace {name!r}; `tidepool vm start -n {name}` or "
                f"`tidepool workspace create {name}` makes one."
            ) from None

    async def _until_settled(self, step: Callable[[], Awaitable[Workspace]]) -> Workspace:
        for _ in range(RACE_RETRIES):
            try:
                return await step()
            except StaleWriteError:
                continue  # a worker moved the row meanwhile: the step re-reads it
        raise ConflictError("The workspace kept changing under this command; try again.")


#: The status a workspace settles in for each desired state.
SETTLED_AS = {
    Desired.RUNNING: Status.RUNNING,
    Desired.STOPPED: Status.STOPPED,
    Desired.DELETED: Status.DELETED,
}
