"""What users do with homes: snapshots (take, list, restore, delete), rebuild, undelete, fork.

Each is decided here for an ``Identity``, as every other workspace action is
(``WorkspaceService.visible``: someone else's workspace answers as a missing one), and
audited. A request that needs the instance (a restore, a rebuild) only writes what it asks
for in the row (``domain.home``) and enqueues the workspace's job: the reconciler does it,
so a crash between the request and the work loses nothing. Fork and undelete are creates:
a new workspace whose home volume starts as a copy of another's, made when it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, TypeVar

from tidepool.domain.audit import Outcome
from tidepool.domain.home import (
    DELETE_SNAPSHOT,
    HOME_FROM,
    REPLACES,
    RESTORE,
    HomeSource,
    home_of,
)
from tidepool.domain.identity import Identity
from tidepool.domain.names import instance_name_for, validate_workspace_name
from tidepool.domain.snapshots import (
    Retention,
    Snapshot,
    Why,
    automatic_name,
    validate_snapshot_name,
)
from tidepool.domain.workspace import Desired, Status, Workspace, now
from tidepool.errors import ConflictError, ForbiddenError, NotFoundError, TidepoolError
from tidepool.ports import WorkspaceStore
from tidepool.ports.volumes import HomeVolumes
from tidepool.services.workspaces import UNSET_SIZE, WorkspaceService, instance_name

T = TypeVar("T")
#: The settings' defaults (``snapshot_keep``, ``snapshot_days``).
DEFAULT_RETENTION = Retention()
#: A restore or a rebuild waits for a workspace at rest in one of these.
AT_REST = (Status.RUNNING, Status.STOPPED, Status.FAILED)


class HomeService:
    def __init__(
        self,
        workspaces: WorkspaceService,
        store: WorkspaceStore,
        volumes: HomeVolumes | None,
        *,
        instance_prefix: str,
        retention: Retention = DEFAULT_RETENTION,
    ) -> None:
        #: How long automatic snapshots are kept (what the API tells of each).
        self.retention = retention
        self._workspaces = workspaces
        self._store = store
        self._volumes = volumes
        self._prefix = instance_prefix

    def _volumes_or_refuse(self) -> HomeVolumes:
        if self._volumes is None:
            raise ConflictError(
                "This installation keeps homes in the workspaces' root filesystems (Tart, an "
                "Incus cluster, or home_volumes = false): no snapshots, rebuilds, undeletes "
                "or forks."
            )
        return self._volumes

    async def _home(self, name: str, who: Identity, action: str, *, change: bool) -> Workspace:
        """The visible workspace ``name`` whose home is on a volume (else ``ConflictError``
        saying when it will be)."""
        self._volumes_or_refuse()
        workspace = await self._workspaces.visible(validate_workspace_name(name), who, action)
        if change:
            await self._check_may_change(who, action, workspace.name)
        if not home_of(workspace.runtime_state):
            raise ConflictError(
                f"Workspace {workspace.name!r} keeps its home in its root filesystem (it was "
                "made before home volumes); it moves onto a volume at its next start."
            )
        return workspace

    async def _snapshots_of(self, workspace: Workspace) -> list[Snapshot]:
        """The snapshots of ``workspace``'s home; ``ConflictError`` while its home is not
        made yet (a new workspace, a fork, an undelete still on its way)."""
        try:
            return list(await self._volumes_or_refuse().snapshots(home_of(workspace.runtime_state)))
        except NotFoundError:
            raise ConflictError(
                f"Workspace {workspace.name!r} has no home yet: it is {workspace.status.value}."
            ) from None

    async def _check_may_change(self, who: Identity, action: str, name: str) -> None:
        """``ForbiddenError`` (audited) if ``who``'s credential may not change ``name``."""
        try:
            who.check_may_change(action, name)
        except ForbiddenError as refused:
            await self._workspaces.record(who, action, name, Outcome.DENIED, str(refused))
            raise

    async def _audited(self, who: Identity, action: str, name: str, work: Awaitable[T]) -> T:
        """``work``'s result; a failure other than a missing workspace is audited."""
        try:
            done = await work
        except NotFoundError:
            raise
        except TidepoolError as failed:
            await self._workspaces.record(who, action, name, Outcome.FAILED, str(failed))
            raise
        return done

    async def snapshots(self, name: str, *, who: Identity) -> list[Snapshot]:
        workspace = await self._home(name, who, "snapshots", change=False)
        return await self._snapshots_of(workspace)

    async def take_snapshot(self, name: str, snapshot: str, *, who: Identity) -> Snapshot:
        """Take ``snapshot`` of ``name``'s home now (running or not)."""
        snapshot = validate_snapshot_name(snapshot)
        workspace = await self._home(name, who, "snapshot", change=True)
        home = home_of(workspace.runtime_state)
        volumes = self._volumes_or_refuse()
        await self._snapshots_of(workspace)  # (its home made: a pending one's is not yet)
        await self._audited(who, "snapshot", name, volumes.snapshot(home, snapshot))
        await self._workspaces.record(who, "snapshot", workspace.name, Outcome.OK, snapshot)
        return next(s for s in await volumes.snapshots(home) if s.name == snapshot)

    async def delete_snapshot(self, name: str, snapshot: str, *, who: Identity) -> None:
        workspace = await self._home(name, who, "snapshot.delete", change=True)
        home = home_of(workspace.runtime_state)
        volumes = self._volumes_or_refuse()
        if not any(s.name == snapshot for s in await self._snapshots_of(workspace)):
            raise NotFoundError(f"Workspace {workspace.name!r} has no snapshot {snapshot!r}.")
        await volumes.delete_snapshot(home, snapshot)
        await self._workspaces.record(who, "snapshot.delete", name, Outcome.OK, snapshot)

    async def restore(self, name: str, snapshot: str, *, who: Identity) -> Workspace:
        """Ask for ``snapshot`` to be put back: the workspace stops, its home is snapshotted
        (``auto-restore-...``, to undo this) and put back, and it runs again if it ran."""
        workspace = await self._home(name, who, "restore", change=True)
        taken = await self._snapshots_of(workspace)
        if not any(s.name == snapshot for s in taken):
            raise NotFoundError(f"Workspace {workspace.name!r} has no snapshot {snapshot!r}.")
        self._check_at_rest(workspace, "restore")
        asked = {"snapshot": snapshot, "undo": automatic_name(Why.RESTORE, now())}
        state = {**workspace.runtime_state, RESTORE: asked}
        done = await self._store.save(
            replace(workspace, runtime_state=state, updated_at=now()),
            event=("request", "restore", snapshot),
            enqueue=True,
        )
        await self._workspaces.record(who, "restore", name, Outcome.OK, snapshot)
        return done

    async def rebuild(self, name: str, *, who: Identity, template: str | None = None) -> Workspace:
        """Ask for a new instance from the template's current image (``template``'s, if
        given: the workspace moves to it), keeping home: the old instance is deleted, the
        new one made with the same home volume, and run if the workspace ran."""
        workspace = await self._home(name, who, "rebuild", change=True)
        self._check_at_rest(workspace, "rebuild")
        chosen = self._workspaces.template(template or workspace.template)
        size = workspace.size
        if chosen.name != workspace.template:
            size = self._workspaces.catalog.size_for(chosen, UNSET_SIZE)
        # A new instance name: the old instance and the new never share one, so a crash
        # between the delete of one and the create of the other is told apart by name.
        fresh = instance_name_for(self._prefix, uuid.uuid4().hex)
        state = {
            **workspace.runtime_state,
            REPLACES: str(instance_name(workspace)),
            "instance": fresh,
        }
        wanted = replace(
            workspace,
            image=chosen.image,
            template=chosen.name,
            size=size,
            runtime_state=state,
            updated_at=now(),
        )
        if wanted.desired is Desired.DELETED:
            raise ConflictError(f"Workspace {workspace.name!r} is being deleted.")
        done = await self._store.save(
            wanted, event=("request", "rebuild", chosen.image), enqueue=True
        )
        await self._workspaces.record(who, "rebuild", name, Outcome.OK, chosen.image)
        return done

    def _check_at_rest(self, workspace: Workspace, action: str) -> None:
        if workspace.status not in AT_REST or workspace.desired is Desired.DELETED:
            raise ConflictError(
                f"Cannot {action} workspace {workspace.name!r} while it is "
                f"{workspace.status.value}; try again when it has settled."
            )
        if workspace.runtime_state.get(RESTORE) or workspace.runtime_state.get(REPLACES):
            raise ConflictError(
                f"Workspace {workspace.name!r} has a restore or a rebuild under way."
            )

    async def undelete(self, name: str, *, who: Identity) -> Workspace:
        """Bring back ``name``, deleted, as its owner's, from its delete's snapshot (while
        retention keeps it), if the name is free. Its root comes from its template's image."""
        name = validate_workspace_name(name)
        volumes = self._volumes_or_refuse()
        await self._check_may_change(who, "undelete", name)
        found = await self._deleted(name, who)
        home = home_of(found.runtime_state)
        snapshot = str(found.runtime_state.get(DELETE_SNAPSHOT) or "")
        try:
            kept = any(s.name == snapshot for s in await volumes.snapshots(home))
        except NotFoundError:
            kept = False
        if not snapshot or not kept:
            raise NotFoundError(
                f"Workspace {name!r} was deleted, and its home is no longer kept (retention)."
            )
        back = self._new_like(found, found.owner, HomeSource(home, snapshot))
        done = await self._audited(
            who, "undelete", name, self._workspaces.add_within_quota(who, back)
        )
        await self._workspaces.record(who, "undelete", name, Outcome.OK, snapshot)
        return done

    async def _deleted(self, name: str, who: Identity) -> Workspace:
        """The newest deleted workspace ``name`` that ``who`` may see."""
        newest: Workspace | None = None
        offset = 0
        while True:
            page = await self._store.list(status=Status.DELETED, limit=500, offset=offset)
            for workspace in page.items:
                if workspace.name != name or not who.may_see(workspace.owner, workspace.name):
                    continue
                if newest is None or workspace.created_at > newest.created_at:
                    newest = workspace
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        if newest is None or not home_of(newest.runtime_state):
            raise NotFoundError(f"No deleted workspace named {name!r} to bring back.")
        return newest

    async def fork(self, source: str, name: str, *, who: Identity) -> Workspace:
        """A new workspace ``name`` of ``who``'s with a copy of ``source``'s home as it is
        now (running or not), its template, size and image; everything else its own."""
        name = validate_workspace_name(name)
        original = await self._home(source, who, "fork", change=False)
        await self._check_may_change(who, "fork", name)
        fork = self._new_like(
            replace(original, name=name), who.name, HomeSource(home_of(original.runtime_state))
        )
        done = await self._audited(who, "fork", name, self._workspaces.add_within_quota(who, fork))
        await self._workspaces.record(who, "fork", name, Outcome.OK, f"from {original.name}")
        return done

    def _new_like(self, model: Workspace, owner: str, source: HomeSource) -> Workspace:
        """A new workspace, pending, with ``model``'s name, template, size, repository and
        image (its template's current one), and a home that starts as ``source``. The
        repository is not cloned again: home holds it, and the mark of its clone."""
        template = model.template
        image = model.image
        if template in {t.name for t in self._workspaces.catalog.templates}:
            image = self._workspaces.catalog.get(template).image
        fresh = Workspace(
            name=model.name,
            owner=owner,
            image=image,
            template=template,
            size=model.size,
            repository=model.repository,
        )
        state: dict[str, Any] = dict(self._workspaces.new_state(fresh.id))
        state[HOME_FROM] = source.as_state()
        return replace(fresh, runtime_state=state)
