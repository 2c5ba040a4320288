"""The composition root: the one place that reads settings and builds adapters.

``build(settings)`` wires the whole application (store, queue, runtime, route table, front
door, reconciler, services, worker) and is what ``tidepool serve``, every CLI command, the
tests and the benches use; each part can be overridden (a fake runtime, an in-memory store, a
test clock). Runtimes are found by name through the ``tidepool.runtimes`` entry points and
really loaded from there, so a third party's runtime works without editing Tidepool; an
unknown name lists the installed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

from tidepool import sign_in_records
from tidepool.adapters.incus.activity import IncusActivityProbe
from tidepool.adapters.sqs_relay import OutboxRelay
from tidepool.auth.audit import AuditLog, audit_log_in
from tidepool.auth.personal import PersonalFiles
from tidepool.auth.ssh_keys import SshKeyStore
from tidepool.domain.identity import HOST
from tidepool.domain.pool import pool_specs
from tidepool.domain.workspace import now

# The front door's and sign-in's parts, importable from here as callers name them.
from tidepool.edge_parts import LOOPBACK_NAMES as LOOPBACK_NAMES
from tidepool.edge_parts import authenticator as authenticator
from tidepool.edge_parts import build_route_table as build_route_table
from tidepool.edge_parts import caddy_admin as caddy_admin
from tidepool.edge_parts import caddy_options as caddy_options
from tidepool.edge_parts import caddy_process as caddy_process
from tidepool.edge_parts import front_door as front_door
from tidepool.edge_parts import grant_store as grant_store
from tidepool.edge_parts import opened_route_table as opened_route_table
from tidepool.edge_parts import served_hosts as served_hosts
from tidepool.edge_parts import session_cache as session_cache
from tidepool.edge_parts import token_cache as token_cache
from tidepool.errors import TidepoolError
from tidepool.host.front_door_state import FrontDoorStateFile
from tidepool.host.liveness import provably_dead, worker_identity
from tidepool.host.unclaimed_file import UnclaimedFile
from tidepool.installation import installation_id
from tidepool.loopback import LoopbackNames
from tidepool.policies import idle_policy_for, lifetime_policy_for, quota_of
from tidepool.ports import FrontDoor, JobQueue, Leadership, RouteTable, Runtime, WorkspaceStore
from tidepool.ports.volumes import HomeVolumes
from tidepool.processes import crash_hook

# The runtimes' factories, importable from here as the entry points and the CLI name them.
from tidepool.runtimes import build_runtime as build_runtime
from tidepool.runtimes import home_volumes_for
from tidepool.runtimes import incus_client as incus_client
from tidepool.runtimes import incus_runtime as incus_runtime
from tidepool.runtimes import installed_runtimes as installed_runtimes
from tidepool.runtimes import placing_for as placing_for
from tidepool.runtimes import tart_runtime as tart_runtime
from tidepool.services.activity import ActivityWatch
from tidepool.services.adoption import Adoption
from tidepool.services.authorized_keys import KeyDelivery
from tidepool.services.by_hand import ByHand
from tidepool.services.home_steps import HomeSteps
from tidepool.services.homes import HomeService
from tidepool.services.metrics import PlatformMetrics
from tidepool.services.moving import Mover
from tidepool.services.placing import Placing
from tidepool.services.pool import PoolKeeper
from tidepool.services.reconcile import STEPS, ReconcileLimits, Reconciler
from tidepool.services.resync import ResyncReport
from tidepool.services.setup import Setup
from tidepool.services.setup_runner import SetupRunner
from tidepool.services.supervisor import FrontDoorSupervisor
from tidepool.services.worker import Worker, WorkerSettings
from tidepool.services.workspaces import WorkspaceService
from tidepool.settings import Settings
from tidepool.store import migrate
from tidepool.store.leadership import leadership_for
from tidepool.store.sql import SqlWorkspaceStore, open_store


def job_queues(settings: Settings, outbox: JobQueue) -> tuple[JobQueue, OutboxRelay | None]:
    """The queue workers claim from, and the relay that feeds it if it is not the outbox.

    With SQS, jobs still enter through the database outbox (in the request's transaction);
    the relay moves them to SQS and workers claim only from SQS.
    """
    if settings.queue == "sqs":
        # Imported here: boto3 costs every other serve's start 70 ms (and a crash's recovery).
        from tidepool.adapters.sqs import SqsJobQueue

        sqs = SqsJobQueue.from_settings(settings)
        return sqs, OutboxRelay(outbox, sqs)
    return outbox, None


@contextlib.asynccontextmanager
async def opened_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The configured runtime, closed when the block ends."""
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.aclose()


@dataclass
class Tidepool:
    """The application, wired: what ``build`` hands to ``serve``, the CLI, tests and benches."""

    settings: Settings
    store: WorkspaceStore
    queue: JobQueue
    runtime: Runtime
    routes: RouteTable
    front_door: FrontDoor
    http: httpx.AsyncClient
    clock: Callable[[], float]
    #: True when a ``serve`` runs on this data directory (by-hand steps are its worker's).
    platform_runs: bool = False
    #: Placement on a cluster (None: the runtime was given, or is Tart).
    placing: Placing | None = None
    #: Home volumes (None: home stays in the root filesystem: Tart, or switched off).
    volumes: HomeVolumes | None = None
    #: True in ``serve``: a workspace's setup runs behind its open IDE (``SetupRunner``).
    setup_behind: bool = False
    #: The reconciler's steps on home volumes (None without volumes).
    homes: HomeSteps | None = field(init=False)
    #: Where workspaces' setups run (``serve`` keeps it: ``setup_runner.keep``).
    setup_runner: SetupRunner = field(init=False)
    reconciler: Reconciler = field(init=False)
    workspaces: WorkspaceService = field(init=False)
    by_hand: ByHand = field(init=False)
    #: Snapshots, restore, rebuild, undelete and fork (``services.homes``).
    home: HomeService = field(init=False)
    adoption: Adoption = field(init=False)
    #: Moves stopped workspaces between cluster members.
    mover: Mover = field(init=False)
    supervisor: FrontDoorSupervisor = field(init=False)
    #: The append-only audit log under the data directory (``auth.audit``).
    audit: AuditLog = field(init=False)
    #: This installation's id, recorded with every instance it makes (``installation``).
    installation: str = field(init=False)
    #: The warm pools the templates ask for (None if none does); kept by ``serve``.
    pool: PoolKeeper | None = field(init=False)
    #: Users' SSH public keys, and what puts them in their workspaces (``serve`` keeps
    #: running workspaces in step: ``key_sync``).
    ssh_keys: SshKeyStore = field(init=False)
    key_delivery: KeyDelivery = field(init=False)
    #: Users' dotfiles and git credentials, read at each workspace's setup.
    personal: PersonalFiles = field(init=False)
    #: What keeps each running workspace up, and the idle stop (``serve`` runs it).
    activity: ActivityWatch = field(init=False)
    metrics: PlatformMetrics = field(init=False)
    #: Which of the control planes on this database leads (``ports.Leadership``), and
    #: whether several can share it (PostgreSQL: each then follows the others' routes).
    leadership: Leadership = field(init=False)
    shares_database: bool = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        database = self.store.database if isinstance(self.store, SqlWorkspaceStore) else None
        self.shares_database = database is not None and database.backend == "postgresql"
        self.leadership = leadership_for(database)
        self.audit = audit_log_in(settings.data_dir)
        self.installation = installation_id(settings.data_dir)
        specs = pool_specs(settings.catalog)
        self.pool = (
            PoolKeeper(
                self.runtime,
                specs,
                self.http,
                installation=self.installation,
                prefix=settings.instance_prefix,
            )
            if specs
            else None
        )
        self.ssh_keys = sign_in_records.ssh_keys(settings)
        self.key_delivery = KeyDelivery(self.runtime, self.ssh_keys.lines_of)
        self.personal = sign_in_records.personal(settings)
        catalog = settings.catalog
        setup = Setup(
            self.runtime,
            self.store,
            personal_of=self.personal.personal,
            template_images=lambda: {t.name: t.image for t in catalog.templates},
        )
        self.setup_runner = SetupRunner(setup, self.store, behind=self.setup_behind)
        self.homes = (
            HomeSteps(
                self.volumes,
                self.runtime,
                self.store,
                installation=self.installation,
                retention=settings.retention,
                now=now,
            )
            if self.volumes is not None
            else None
        )
        self.reconciler = Reconciler(
            self.store,
            self.runtime,
            self.routes,
            self.http,
            ReconcileLimits(cpus=settings.workspace_cpus, memory_mib=settings.workspace_memory_mib),
            clock=self.clock,
            reached=crash_hook(settings.crash_at, settings.caddy_dir / "caddy.pid", STEPS),
            installation=self.installation,
            pool=self.pool,
            keys=self.key_delivery,
            placing=self.placing,
            setup=self.setup_runner,
            homes=self.homes,
        )
        self.workspaces = WorkspaceService(
            self.store,
            default_image=settings.image_alias,
            catalog=settings.catalog,
            instance_prefix=settings.instance_prefix,
            audit=self.audit,
            quota_of=quota_of(settings),
            home_volumes=self.volumes is not None,
        )
        self.home = HomeService(
            self.workspaces,
            self.store,
            self.volumes,
            instance_prefix=settings.instance_prefix,
            retention=settings.retention,
        )
        self.mover = Mover(self.workspaces, self.store, self.placing, self.audit)
        self.adoption = Adoption(
            self.store, self.runtime, installation=self.installation, image=settings.image_alias
        )
        self.by_hand = ByHand(
            self.workspaces,
            self.reconciler,
            self.runtime,
            self.routes,
            self.store,
            who=HOST,
            platform_runs=self.platform_runs,
        )
        incus = incus_client(settings) if settings.runtime == "incus" else None
        probe = IncusActivityProbe(incus, self.front_door.pid)
        policy, every = idle_policy_for(settings), settings.activity_interval_seconds
        self.activity = ActivityWatch(
            self.store,
            probe,
            self.workspaces,
            self.runtime,
            policy,
            now,
            every,
            lifetime_for=lifetime_policy_for(settings),
        )
        self.metrics = PlatformMetrics(self.store, self.queue)
        self.supervisor = FrontDoorSupervisor(
            self.front_door,
            self.store,
            self.routes,
            report=FrontDoorStateFile.in_data_dir(settings.data_dir),
        )

    def worker(self, queue: JobQueue | None = None) -> Worker:
        """A worker claiming from ``queue`` (the database's outbox unless given: SQS); what
        its resyncs leave unclaimed is published for ``tidepool service status``."""
        unclaimed = UnclaimedFile.in_data_dir(self.settings.data_dir)

        def resynced(report: ResyncReport) -> None:
            unclaimed.publish(report.unclaimed)
            self.metrics.count_resync(report)

        return Worker(
            self.store,
            queue or self.queue,
            self.runtime,
            self.routes,
            self.reconciler,
            WorkerSettings(
                lease_seconds=self.settings.worker_lease_seconds,
                resync_interval=self.settings.resync_interval_seconds,
                installation=self.installation,
            ),
            name=worker_identity(),
            is_dead=provably_dead,
            on_resync=resynced,
            offline=self.placing.offline if self.placing is not None else None,
            leadership=self.leadership,
        )


async def _home_volumes(settings: Settings, placing: Placing | None) -> HomeVolumes | None:
    """Home volumes, except on an Incus cluster: a volume lives on one member, and moving
    one with its workspace between members is not built yet (docs/workspaces.md). An Incus
    that cannot be asked now is taken for one host, as before clusters."""
    volumes = home_volumes_for(settings)
    if volumes is None or placing is None:
        return volumes
    try:
        clustered = await placing.clustered()
    except TidepoolError:
        return volumes
    if clustered:
        await volumes.aclose()
        return None
    return volumes


@contextlib.asynccontextmanager
async def build(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    routes: RouteTable | None = None,
    store: tuple[WorkspaceStore, JobQueue] | None = None,
    door: FrontDoor | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    platform_runs: bool = False,
    setup_behind: bool = False,
    volumes: HomeVolumes | None = None,
) -> AsyncIterator[Tidepool]:
    """The whole application from ``settings``; any part may be given instead (a fake, a
    store shared with a test). The database is migrated first; everything built here is
    closed when the block ends, what was given is left to its owner."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(migrate.upgrade, settings.resolved_database_url)
            store = open_store(settings.resolved_database_url)
            stack.push_async_callback(store[1].aclose)  # closes the shared engine
            store[0].listen()  # PostgreSQL: every control plane's writes wake this one too
        placing = None
        if runtime is None:
            runtime = await stack.enter_async_context(opened_runtime(settings))
            placing = placing_for(settings)
            if volumes is None and (volumes := await _home_volumes(settings, placing)):
                stack.push_async_callback(volumes.aclose)
            if placing is not None:
                stack.push_async_callback(placing.aclose)
        if routes is None:
            routes = await stack.enter_async_context(opened_route_table(settings))
        if door is None:
            door = front_door(settings)
            stack.push_async_callback(door.aclose)
        if http is None:
            # Workspace origins on ``localhost`` are names only browsers resolve.
            http = await stack.enter_async_context(httpx.AsyncClient(transport=LoopbackNames()))
        parts = (store[0], store[1], runtime, routes, door, http, clock, platform_runs, placing)
        app = Tidepool(settings, *parts, volumes=volumes, setup_behind=setup_behind)
        stack.push_async_callback(app.activity.aclose)
        stack.push_async_callback(app.leadership.aclose)
        yield app
