"""The periodic full resync: compare the database with Incus and Caddy and repair drift.

Like JupyterHub's ``check_routes``: add what is missing, remove what is stale, report what
vanished, and skip whatever is mid-transition (a job is working on it right now).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tidepool.domain.workspace import Status, Workspace
from tidepool.errors import NotFoundError
from tidepool.ports import InstanceStatus, RouteTable, Runtime, WorkspaceStore
from tidepool.services.workspaces import instance_name, is_control_plane_instance

log = logging.getLogger(__name__)
SETTLED = frozenset({Status.RUNNING, Status.STOPPED, Status.FAILED, Status.PENDING})


@dataclass(slots=True)
class ResyncReport:
    orphan_instances_removed: list[str] = field(default_factory=list)
    orphan_routes_removed: list[str] = field(default_factory=list)
    routes_restored: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.orphan_instances_removed,
                self.orphan_routes_removed,
                self.routes_restored,
                self.vanished,
                self.requeued,
            )
        )


async def live_workspaces(store: WorkspaceStore, page_size: int = 500) -> AsyncIterator[Workspace]:
    offset = 0
    while True:
        page = await store.list(limit=page_size, offset=offset)
        for workspace in page.items:
            yield workspace
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


async def resync(
    store: WorkspaceStore, runtime: Runtime, routes: RouteTable, *, instance_prefix: str = "ws"
) -> ResyncReport:
    report = ResyncReport()
    workspaces = [w async for w in live_workspaces(store)]
    instances = {
        i.name: i
        for i in await runtime.list()
        if is_control_plane_instance(i.name, instance_prefix)
    }
    by_instance = {instance_name(w): w for w in workspaces}

    for name in sorted(set(instances) - set(by_instance)):
        with contextlib.suppress(NotFoundError):
            await runtime.delete(name)
        report.orphan_instances_removed.append(name)

    current_routes = dict(await routes.list())
    by_name = {w.name: w for w in workspaces}
    for name in sorted(current_routes):
        owner = by_name.get(name)
        if owner is None or (owner.status in SETTLED and owner.status is not Status.RUNNING):
            with contextlib.suppress(NotFoundError):
                await routes.remove(name)
            report.orphan_routes_removed.append(name)

    for workspace in workspaces:
        if workspace.status not in SETTLED:
            continue
        instance = instances.get(instance_name(workspace))
        if workspace.status in (Status.RUNNING, Status.STOPPED) and instance is None:
            await _mark(store, workspace, "The workspace's instance vanished outside Tidepool.")
            report.vanished.append(workspace.name)
            continue
        if workspace.status is Status.RUNNING and instance is not None:
            if instance.status is not InstanceStatus.RUNNING:
                await store.save(
                    workspace.move_to(Status.STARTING),
                    event=("status", "starting", "instance stopped outside Tidepool"),
                    enqueue=True,
                )
                report.requeued.append(workspace.name)
                continue
            if workspace.address and current_routes.get(workspace.name) != workspace.address:
                await routes.add(workspace.name, workspace.address, workspace.owner)
                await store.add_event(workspace.id, "phase", "route_live", "restored by resync")
                report.routes_restored.append(workspace.name)
        elif not workspace.settled and workspace.status is not Status.FAILED:
            await store.enqueue(workspace.id)
            report.requeued.append(workspace.name)
    if report.changed:
        log.info("resync repaired drift: %s", report)
    return report


async def _mark(store: WorkspaceStore, workspace: Workspace, error: str) -> None:
    await store.save(
        workspace.move_to(Status.FAILED, error=error), event=("status", "failed", error)
    )
