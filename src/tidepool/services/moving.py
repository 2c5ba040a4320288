"""Moving a stopped workspace to another cluster member (``tidepool workspace move``), its
files and all: to drain a member for maintenance, or to put a workspace beside the hardware
it needs. Who may move a workspace is who may start or stop it.

A running workspace is refused (stop it first: a move copies its disk). The move waits for
Incus's migration, then records the new member with the workspace; its next start is there.
"""

from __future__ import annotations

from dataclasses import replace

from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.identity import Identity
from tidepool.domain.workspace import Desired, Status, Workspace, now
from tidepool.errors import ConflictError, TidepoolError
from tidepool.ports import AuditTrail, WorkspaceStore
from tidepool.services.placing import Placing
from tidepool.services.workspaces import WorkspaceService, instance_name


class Mover:
    def __init__(
        self,
        workspaces: WorkspaceService,
        store: WorkspaceStore,
        placing: Placing | None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._workspaces = workspaces
        self._store = store
        self._placing = placing
        self._audit = audit

    async def move(self, name: str, member: str, *, who: Identity) -> Workspace:
        """Move ``name`` to ``member``; ``ConflictError`` if it runs or this is no cluster,
        ``InvalidInputError`` for a member that does not exist."""
        workspace = await self._workspaces.get(name, who=who, purpose="move")
        try:
            who.check_may_change("move", workspace.name)
            if self._placing is None or not await self._placing.clustered():
                raise ConflictError(
                    "This installation's runtime is not a cluster: nowhere to move."
                )
            if (workspace.desired, workspace.status) != (Desired.STOPPED, Status.STOPPED):
                raise ConflictError(
                    f"Workspace {workspace.name!r} is {workspace.status.value}: stop it before "
                    "moving it (a move copies its disk)."
                )
            moved = await self._placing.move(instance_name(workspace), member)
        except TidepoolError as error:
            await self._record(who, workspace.name, Outcome.DENIED, str(error))
            raise
        # Read again: the move took a while, and a request meanwhile changed the row.
        current = await self._store.get_by_id(workspace.id)
        done = await self._store.save(
            replace(current, location=moved, updated_at=now()),
            event=("location", moved, f"moved from {workspace.location or 'unknown'}"),
        )
        await self._record(who, workspace.name, Outcome.OK, f"{workspace.location} -> {moved}")
        return done

    async def _record(self, who: Identity, name: str, outcome: Outcome, detail: str) -> None:
        if self._audit is not None:
            await self._audit.record(AuditEntry.by(who, "workspace.move", name, outcome, detail))
