"""The reconciler's steps on home volumes: make and attach one, snapshot before a delete, put
a snapshot back, and keep automatic snapshots within their retention.

Each step is idempotent and reads what to do from the workspace's row (``domain.home``), so
a crash between any two leaves the row saying what is left, and the next pass does it:
a volume that exists is not made again, a snapshot whose name was chosen and is taken is not
taken again, a restore is cleared from the row only after it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from tidepool.domain.home import (
    DELETE_SNAPSHOT,
    HOME,
    RESTORE,
    home_of,
    source_of,
    without,
)
from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.snapshots import Retention, Why, automatic_name
from tidepool.domain.workspace import Status, Workspace
from tidepool.errors import ConflictError, NotFoundError, TidepoolError
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.ports.volumes import HomeVolumes
from tidepool.services.home_migration import HomeMigration

log = logging.getLogger(__name__)


class HomeSteps:
    def __init__(
        self,
        volumes: HomeVolumes,
        runtime: Runtime,
        store: WorkspaceStore,
        *,
        installation: str,
        retention: Retention,
        now: Callable[[], datetime],
    ) -> None:
        self._volumes = volumes
        self._runtime = runtime
        self._store = store
        self._installation = installation
        self.retention = retention
        self._now = now

    async def make(self, workspace: Workspace) -> None:
        """The workspace's home volume, made unless it exists: empty (the image fills it at
        the first start), or a copy of what ``home_from`` names (a fork, an undelete)."""
        home = home_of(workspace.runtime_state)
        if not home:
            return
        source = source_of(workspace.runtime_state)
        owner = InstanceOwner(self._installation, workspace.id)
        size = workspace.size.disk_gib  # a template's disk size holds for home as for root
        if source is None:
            await self._volumes.create(home, owner, size_gib=size)
            return
        await self._volumes.create(
            home, owner, copy_of=source.volume, snapshot=source.snapshot, size_gib=size
        )

    async def move_home(self, workspace: Workspace, instance: InstanceName) -> Workspace:
        """A workspace made before home volumes (or from the warm pool) gets one, at a start:
        its home copied onto ``INSTANCE-home`` (``services.home_migration``, which converges
        from any crash), then recorded in the row. The instance is left stopped."""
        if home_of(workspace.runtime_state):
            return workspace
        volume = f"{instance}-home"
        try:
            await self._runtime.state(instance)
        except NotFoundError:
            return workspace  # nothing to move: the start says what is missing
        owner = InstanceOwner(self._installation, workspace.id)
        await self._store.add_event(workspace.id, "phase", "home_moving", volume)
        migration = HomeMigration(self._runtime, self._volumes)
        await migration.migrate(instance, volume, owner, size_gib=workspace.size.disk_gib)
        state = {**workspace.runtime_state, HOME: volume}
        return await self._store.save(
            replace(workspace, runtime_state=state), event=("phase", "home_moved", volume)
        )

    async def attach(self, workspace: Workspace, instance: InstanceName) -> None:
        """Mount the home volume at ``/home/dev`` in the new (stopped) instance."""
        home = home_of(workspace.runtime_state)
        if home:
            await self._volumes.attach(home, instance)

    async def before_delete(self, workspace: Workspace, instance: InstanceName) -> Workspace:
        """Stop the instance and take the automatic snapshot a delete keeps (what
        ``undelete`` brings back): its name is saved in the row before it is taken, so a
        delete run again finds it taken and goes on. The volume itself is kept, with its
        snapshots, until retention lets the snapshot go (``prune``)."""
        home = home_of(workspace.runtime_state)
        if not home:
            return workspace
        name = str(workspace.runtime_state.get(DELETE_SNAPSHOT) or "")
        if not name:
            name = automatic_name(Why.DELETE, self._now())
            state = {**workspace.runtime_state, DELETE_SNAPSHOT: name}
            workspace = await self._store.save(replace(workspace, runtime_state=state))
        with contextlib.suppress(NotFoundError):
            await self._runtime.stop(instance)  # its files flushed, the snapshot whole
        try:
            await self._volumes.snapshot(home, name)
        except ConflictError:
            pass  # taken by the pass a crash cut short
        except NotFoundError:
            log.warning("workspace %s has no home volume %s to keep", workspace.name, home)
            return workspace
        await self.prune(home)
        return workspace

    async def after_idle_stop(self, workspace: Workspace) -> None:
        """An automatic snapshot of a workspace an idle stop just stopped: the state it was
        left in, whatever a later session does to it (pruned by retention)."""
        home = home_of(workspace.runtime_state)
        if not home:
            return
        try:
            await self._volumes.snapshot(home, automatic_name(Why.IDLE, self._now()))
        except (ConflictError, NotFoundError) as skipped:
            log.info("no idle snapshot of %s: %s", workspace.name, skipped)
            return
        await self.prune(home)

    async def restore(self, workspace: Workspace, instance: InstanceName) -> Workspace:
        """Put back the snapshot the row asks for, with the instance stopped, after taking
        the ``undo`` snapshot (so the restore itself can be undone); then clear the ask."""
        asked = workspace.runtime_state.get(RESTORE) or {}
        home = home_of(workspace.runtime_state)
        if not asked or not home:
            return workspace
        with contextlib.suppress(NotFoundError):
            await self._runtime.stop(instance)
        undo = str(asked.get("undo") or "")
        if undo:
            with contextlib.suppress(ConflictError):
                await self._volumes.snapshot(home, undo)
        try:
            await self._volumes.restore(home, str(asked["snapshot"]))
        except NotFoundError as missing:
            # Deleted since it was asked for: nothing to put back; say so in the history.
            await self._store.add_event(workspace.id, "restore", "failed", str(missing))
        else:
            await self._store.add_event(workspace.id, "restore", "done", str(asked["snapshot"]))
        workspace = await self._store.save(
            replace(workspace, runtime_state=without(workspace.runtime_state, RESTORE))
        )
        await self.prune(home)
        return workspace

    async def keep(
        self, stop: asyncio.Event, every: float, leading: Callable[[], bool] = lambda: True
    ) -> None:
        """``sweep`` every ``every`` seconds until ``stop`` (``serve`` runs it), while
        ``leading``: one control plane sweeps for all."""
        while not stop.is_set():
            try:
                if leading():
                    await self.sweep()
            except TidepoolError as error:
                log.warning("home volume sweep failed (tried again later): %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def sweep(self) -> list[str]:
        """Prune every home volume of this installation's, and delete the volumes of deleted
        workspaces once retention has let their last automatic snapshot go; their names.

        Only what is provably this installation's, and provably unwanted, goes: the volume
        records this installation, its workspace's row is in this database, says
        ``deleted``, and names this volume as its home. A volume of another installation, of
        a row this database does not have (a switched database, a restored backup), or in
        use by an instance, is left as it is.
        """
        removed = []
        for volume in await self._volumes.list():
            if volume.owner is None or volume.owner.installation != self._installation:
                continue
            await self.prune(volume.name)
            if volume.used_by:
                continue
            try:
                workspace = await self._store.get_by_id(volume.owner.workspace_id)
            except NotFoundError:
                continue
            deleted = workspace.status is Status.DELETED
            if not deleted or home_of(workspace.runtime_state) != volume.name:
                continue
            if any(s.automatic for s in await self._volumes.snapshots(volume.name)):
                continue  # still kept: undelete can bring it back
            with contextlib.suppress(NotFoundError):
                await self._volumes.delete(volume.name)
            log.info("deleted the home of deleted workspace %s (%s)", workspace.name, volume.name)
            removed.append(volume.name)
        return removed

    async def prune(self, home: str) -> list[str]:
        """Delete the volume's automatic snapshots retention no longer keeps; their names."""
        try:
            snapshots = await self._volumes.snapshots(home)
        except NotFoundError:
            return []
        doomed = self.retention.expired(snapshots, self._now())
        for snapshot in doomed:
            with contextlib.suppress(NotFoundError):
                await self._volumes.delete_snapshot(home, snapshot.name)
        return [s.name for s in doomed]
