"""A control plane with home volumes on the in-memory fakes: the runtime, the volumes (on a
clock the test moves), the store, the reconciler and the home use cases, wired as
``bootstrap`` wires them. Shared by the unit tests of homes and of their API."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.adapters.fakes.volumes import InMemoryHomeVolumes
from tidepool.domain.home import home_of
from tidepool.domain.identity import Identity
from tidepool.domain.quotas import Quota
from tidepool.domain.snapshots import Retention
from tidepool.domain.templates import Catalog, Maximums, Size, Template
from tidepool.domain.workspace import Workspace
from tidepool.services.home_steps import HomeSteps
from tidepool.services.homes import HomeService
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

IMAGE, NEWER = "tidepool-workspace", "tidepool-workspace-2"
INSTALLATION = "0123456789abcdef0123456789abcdef"
ANN, BOB = Identity("ann", admin=False), Identity("bob", admin=False)
WEEK = Retention(keep=5, days=7)


class Plane:
    def __init__(self, retention: Retention = WEEK, quota: Quota | None = None) -> None:
        self.time = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        self.runtime = InMemoryRuntime(images=[IMAGE, NEWER])
        self.volumes = InMemoryHomeVolumes(lambda: self.runtime.instances, lambda: self.time)
        self.store, _ = memory_store()
        self.routes = InMemoryRouteTable()
        self.catalog = Catalog(
            [
                Template("default", "", IMAGE, Size(cpus=2, memory_mib=2048)),
                Template("newer", "", NEWER, Size(cpus=1, memory_mib=1024)),
            ],
            Maximums(cpus=8, memory_mib=8192, disk_gib=100),
        )
        self.steps = HomeSteps(
            self.volumes,
            self.runtime,
            self.store,
            installation=INSTALLATION,
            retention=retention,
            now=lambda: self.time,
        )
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        self.reconciler = Reconciler(
            self.store,
            self.runtime,
            self.routes,
            http,
            ReconcileLimits(ide_timeout=0.5, boot_timeout=0.5),
            installation=INSTALLATION,
            homes=self.steps,
        )
        self.workspaces = WorkspaceService(
            self.store,
            default_image=IMAGE,
            catalog=self.catalog,
            home_volumes=True,
            quota_of=(lambda user: quota) if quota is not None else None,
        )
        self.homes = HomeService(self.workspaces, self.store, self.volumes, instance_prefix="ws")

    async def settle(self, workspace: Workspace) -> Workspace:
        for _ in range(5):
            workspace = await self.reconciler.reconcile(workspace.id)
            if workspace.settled:
                return workspace
        raise AssertionError(f"{workspace.name} did not settle: {workspace.status}")

    async def running(self, name: str, who: Identity = ANN) -> Workspace:
        return await self.settle(await self.workspaces.create(name, who=who))

    def files(self, workspace: Workspace) -> dict[str, bytes]:
        return self.volumes.volumes[home_of(workspace.runtime_state)].files
