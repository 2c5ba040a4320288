"""The seed's by-hand commands (``vm start``, ``route add``, ``route remove``, ``vm stop``,
``vm delete``, ``down``) as steps on the control plane's own records.

There is one world: each command writes what the user wants into the workspace's row, exactly
as the API does, and then runs the same reconciler the worker runs, in this process, so it
works whether ``tidepool serve`` runs or not. A workspace made this way is an ordinary
workspace: ``serve`` lists, routes, stops and deletes it, and never removes its route or its
instance. If a worker works on the same workspace at the same moment, both run the same
idempotent steps and the loser of a write re-reads and goes on (``ConflictError``).

A route exists exactly when its workspace runs (``tidepool.domain.routing``), so
``route add`` brings the workspace to ``running`` (the IDE must answer) and ``route remove``
stops it, files kept: a workspace that runs unreachable is one the control plane would
route again at its next pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidepool.domain.identity import Identity
from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.domain.workspace import DESIRED_FOR, Action, Workspace
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError, StaleWriteError
from tidepool.ports import RouteTable, Runtime
from tidepool.services.reconcile import Reconciler
from tidepool.services.workspaces import WorkspaceService, instance_name

#: How many times a step re-reads and runs again when a worker wrote the row first.
RACE_RETRIES = 10


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
        *,
        who: Identity,
    ) -> None:
        self._workspaces = workspaces
        self._reconciler = reconciler
        self._runtime = runtime
        self._routes = routes
        #: Who the commands act as: the host itself (root, who may reach the database).
        self._who = who

    async def instance_of(self, name: WorkspaceName) -> InstanceName:
        """The instance behind ``name``; ``NotFoundError`` naming the way to make one."""
        return instance_name(await self._workspace(name))

    async def start(self, name: WorkspaceName, image: str | None = None) -> Workspace:
        """``vm start``: the workspace exists and is meant to run; its instance runs and has
        an address (the IDE and the route are ``route add``'s, or the worker's)."""
        workspace = await self._workspaces.ensure_running(name, who=self._who, image=image)
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
        workspace = await self._workspaces.ensure_running(name, who=self._who)
        workspace = await self._until_settled(lambda: self._reconciler.reconcile(workspace.id))
        after = (await self._routes.entries()).get(name)
        return workspace, after != before

    async def unroute(self, name: WorkspaceName) -> Workspace:
        """``route remove``: the route goes, and with it the run (files kept)."""
        await self._workspace(name)
        if name not in await self._routes.entries():
            raise NotFoundError(f"There is no route for workspace {name!r}.")
        return await self.stop(name)

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
        workspace = await self._workspace(name)
        if workspace.desired is not DESIRED_FOR[action] or not workspace.settled:
            workspace = await self._workspaces.request(name, action, who=self._who)
        return await self._until_settled(lambda: self._reconciler.reconcile(workspace.id))

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

