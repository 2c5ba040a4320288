"""The reconciler: drives one workspace's instance and route toward what the database says.

Every step is idempotent, so running a reconcile twice, or again after a crash halfway, ends
in the same place: an instance that exists is not created again, a running one is not started
again, a route that is present is not added again. The status moves only along the state
machine, and each move is saved (with optimistic concurrency) before the next step.

A workspace is ``running`` only when its IDE answers and its route is live.

Each step boundary is named (``STEPS``) and reported to ``reached``: the crash-sweep tests
kill ``serve`` there (``crash_at``), one boundary at a time, and check that a restart
converges from each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx

from tidepool.domain.activity import StopReason
from tidepool.domain.home import REPLACES, RESTORE, has_pending_work, home_of, without
from tidepool.domain.ownership import InstanceOwner, may_delete
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.errors import ConflictError, NotFoundError, RuntimeOperationError
from tidepool.ports import InstanceSpec, RouteTable, Runtime, WorkspaceStore
from tidepool.services.authorized_keys import KeyDelivery
from tidepool.services.home_steps import HomeSteps
from tidepool.services.ide import ask_for_workbench, wait_for_ide
from tidepool.services.naming import name_workspace
from tidepool.services.placing import Placing
from tidepool.services.pool import PoolKeeper
from tidepool.services.pooled_create import POOLED, PooledCreate
from tidepool.services.setup import Setup
from tidepool.services.setup_runner import SetupRunner
from tidepool.services.workspaces import VANISHED, instance_name

#: Every step boundary of a reconcile, in the order a create, a start, a stop and a delete
#: pass them (``start`` is ``create`` without the first two).
CREATE_STEPS = (
    "creating",
    "instance_created",
    "starting",
    "instance_started",
    "booted",
    "ide_healthy",
    "routed",
    "running",
)
STOP_STEPS = ("stopping", "unrouted", "instance_stopped", "stopped")
DELETE_STEPS = ("deleting", "unrouted", "instance_deleted", "deleted")
#: The hand-over of a warm pool instance, within ``creating``: the row names the instance, then
#: the instance records the workspace as its owner (``tidepool.services.pool``).
POOL_STEPS = ("pool_chosen", "pool_taken")
STEPS = frozenset(CREATE_STEPS + STOP_STEPS + DELETE_STEPS + POOL_STEPS)

log = logging.getLogger(__name__)


def _nowhere(step: str) -> None:
    """The default for ``Reconciler.reached``: a step boundary is nothing to anyone."""


@dataclass(frozen=True, slots=True)
class ReconcileLimits:
    cpus: int = 2
    memory_mib: int = 2048
    boot_timeout: float = 120.0
    ide_timeout: float = 120.0


class Reconciler:
    def __init__(
        self,
        store: WorkspaceStore,
        runtime: Runtime,
        routes: RouteTable,
        http: httpx.AsyncClient,
        limits: ReconcileLimits = ReconcileLimits(),
        clock: Callable[[], float] = time.monotonic,
        reached: Callable[[str], None] = _nowhere,
        *,
        installation: str,
        pool: PoolKeeper | None = None,
        keys: KeyDelivery | None = None,
        placing: Placing | None = None,
        setup: SetupRunner | None = None,
        homes: HomeSteps | None = None,
    ) -> None:
        self._reached = reached
        #: Home volumes (None: the runtime has none, and home stays in the root filesystem).
        self._homes = homes
        #: Where on a cluster each new instance goes, and where each one is (None: one host).
        self._placing = placing
        #: Puts the owner's SSH keys in a workspace at each start (None: nothing to put).
        self._keys = keys
        self._pooled = PooledCreate(store, runtime, installation, pool, reached)
        #: Recorded with every instance made, and required of every instance deleted.
        self._installation = installation
        self._store = store
        self._runtime = runtime
        self._routes = routes
        self._http = http
        self._limits = limits
        self._clock = clock
        #: The repository's clone: in line by default, behind the open IDE in ``serve``.
        self._setup = setup or SetupRunner(Setup(runtime, store), store)

    async def reconcile(self, workspace_id: str) -> Workspace:
        """Take the workspace one full pass toward its desired state; return where it ended.

        Raises whatever a port raises; the worker decides whether to retry or mark it failed.
        ``ConflictError`` means the user changed the workspace meanwhile: re-run.
        """
        workspace = await self._store.get_by_id(workspace_id)
        if workspace.settled:
            return workspace
        if workspace.desired is Desired.DELETED:
            return await self._delete(workspace)
        if has_pending_work(workspace.runtime_state):
            workspace = await self._home_work(workspace)
            if workspace.settled:
                return workspace  # (a stopped workspace's restore: it stays stopped)
        if workspace.desired is Desired.STOPPED:
            return await self._stop(workspace)
        return await self._run(workspace)

    async def _move(
        self, workspace: Workspace, status: Status, detail: str = "", **changes: object
    ) -> Workspace:
        moved = workspace.move_to(status)
        if changes:
            moved = replace(moved, **changes)  # type: ignore[arg-type]
        return await self._store.save(moved, event=("status", status.value, detail))

    async def _phase(self, workspace: Workspace, phase: str, started: float) -> None:
        elapsed = self._clock() - started
        await self._store.add_event(workspace.id, "phase", phase, f"{elapsed:.2f}s")

    async def _ensure_instance(self, workspace: Workspace, *, use_pool: bool = True) -> Workspace:
        """Create the instance unless it exists; one made by another worker (or by a command
        by hand) at the same moment counts as made. A new one is taken from the warm pool
        when one fits and is ready (``use_pool``: not for a workspace asked to stay stopped),
        or a hand-over a crash cut short is finished."""
        if workspace.runtime_state.get(POOLED):
            kept = await self._pooled.resume(workspace)
            if kept is not None:
                return kept
            workspace = await self._pooled.forget(workspace)
        instance = instance_name(workspace)
        try:
            await self._runtime.state(instance)
            if not await self._half_made(workspace):
                if self._homes is not None and workspace.status is Status.CREATING:
                    await self._homes.attach(workspace, instance)  # (a crash came between)
                return workspace
            # A create cut short (a crash, incusd restarted under it) can leave an instance
            # that cannot start. It never booted, so nothing of the user's is in it: again.
            await self._delete_instance(workspace)
        except NotFoundError:
            if use_pool and (taken := await self._pooled.take(workspace)) is not None:
                return taken
        started = self._clock()
        target = await self._placing.target(workspace) if self._placing else None
        if self._homes is not None:
            await self._homes.make(workspace)
        with contextlib.suppress(ConflictError):
            await self._runtime.create(
                InstanceSpec(
                    name=instance,
                    image=workspace.image,
                    cpus=workspace.size.cpus or self._limits.cpus,
                    memory_mib=workspace.size.memory_mib or self._limits.memory_mib,
                    disk_gib=workspace.size.disk_gib,
                    # (its name reaches the IDE after the boot, as a pooled one's: ``naming``)
                    owner=InstanceOwner(self._installation, workspace.id),
                    target=target,
                )
            )
            await self._phase(workspace, "instance_created", started)
        if self._homes is not None:
            await self._homes.attach(workspace, instance)
        return workspace

    async def _home_work(self, workspace: Workspace) -> Workspace:
        """What a rebuild or a restore asks of a workspace before it runs (or rests) again:
        out of its route, its instance stopped; a rebuild's old instance deleted (the home
        volume kept) and the workspace back to ``creating``, or the snapshot put back."""
        with contextlib.suppress(NotFoundError):
            await self._routes.remove(workspace.name)
        if workspace.runtime_state.get(REPLACES):
            if workspace.status is not Status.CREATING:
                workspace = await self._move(workspace, Status.CREATING, "rebuild")
            old = replace(workspace, runtime_state={"instance": workspace.runtime_state[REPLACES]})
            with contextlib.suppress(NotFoundError):
                await self._runtime.stop(instance_name(old))  # cleanly, before the delete
            await self._delete_instance(old)
            state = without(workspace.runtime_state, REPLACES)
            workspace = await self._store.save(replace(workspace, runtime_state=state))
        if workspace.runtime_state.get(RESTORE) and self._homes is not None:
            if workspace.status is Status.RUNNING:
                workspace = await self._move(workspace, Status.STARTING, "restore")
            workspace = await self._homes.restore(workspace, instance_name(workspace))
        return workspace

    async def _half_made(self, workspace: Workspace) -> bool:
        """True for an instance left by a create that did not finish: the workspace is
        still ``creating`` and its create never returned (no ``instance_created`` phase, and
        it never booted). One whose create finished is whole, and is started as it is: making
        it again cost a restart half a second."""
        if workspace.status is not Status.CREATING:
            return False
        events = await self._store.events(workspace.id, after=0)
        finished = ("instance_created", "booted")
        return not any(e.kind == "phase" and e.value in finished for e in events)

    async def boot(self, workspace_id: str) -> Workspace:
        """The first half of a start: the instance exists, runs and has an address, which is
        saved; the status stays ``starting`` until ``reconcile`` sees the IDE and routes it.

        ``tidepool vm start`` stops here (the seed's ``vm setup`` and ``route add`` follow).
        A running workspace is returned as it is.
        """
        workspace = await self._store.get_by_id(workspace_id)
        if workspace.desired is not Desired.RUNNING:
            raise ConflictError(f"Workspace {workspace.name!r} is not meant to run; start it.")
        if workspace.status is Status.RUNNING:
            return workspace
        workspace, _ = await self._boot(workspace, self._clock())
        return workspace

    async def _boot(self, workspace: Workspace, started: float) -> tuple[Workspace, str]:
        """Create (if missing) and start the instance, wait for its address and save it.

        The one create-start-wait sequence: ``boot`` and ``reconcile`` both go through it.
        """
        creating = workspace.status in (Status.PENDING, Status.FAILED, Status.CREATING)
        if creating:
            workspace = await self._move(workspace, Status.CREATING)
            self._reached("creating")
            workspace = await self._ensure_instance(workspace)
            self._reached("instance_created")
        if workspace.status is not Status.STARTING:
            workspace = await self._move(workspace, Status.STARTING)
            self._reached("starting")
        instance = instance_name(workspace)
        if self._homes is not None and not creating and not home_of(workspace.runtime_state):
            # Made before home volumes, or from the warm pool: home moves at this start.
            workspace = await self._homes.move_home(workspace, instance)
        try:
            await self._runtime.start(instance)
            self._reached("instance_started")
            address = await self._runtime.wait_for_ipv4(instance, timeout=self._limits.boot_timeout)
        except NotFoundError as error:
            # Made above or found at rest before: gone now is gone behind Tidepool's back
            # (a delete by hand, which the resync may have seen mid-way as a stop).
            raise NotFoundError(VANISHED) from error
        location = await self._placing.location(instance) if self._placing else ""
        # Saved before "booted" is told: followers read them.
        if (workspace.address, workspace.location) != (address, location):
            workspace = await self._store.save(
                replace(workspace, address=address, location=location)
            )
        await self._phase(workspace, "booted", started)
        self._reached("booted")
        return workspace, address

    async def _run(self, workspace: Workspace) -> Workspace:
        started = self._clock()
        creating = workspace.status in (Status.PENDING, Status.CREATING)
        workspace, address = await self._boot(workspace, started)
        await wait_for_ide(self._http, address, timeout=self._limits.ide_timeout)
        await self._phase(workspace, "ide_healthy", started)
        self._reached("ide_healthy")
        # The first page, the name and the keys at once: each waits on the instance, not on
        # the others
        # (the name took 0.1-0.17 s of a cold create after the page, measured one by one).
        # ``gather``, not a task group: a failure to name stays the error it is.
        pooled = creating and bool(workspace.runtime_state.get(POOLED))  # (the pool asked)
        await asyncio.gather(
            name_workspace(self._runtime, self._store, workspace, instance_name(workspace)),
            *([] if pooled else [ask_for_workbench(self._http, address)]),
            *([self._keys.at_start(workspace)] if self._keys is not None else []),
            self._setup.prepare(workspace),  # the folder the IDE opens on
        )
        await self._routes.add(workspace.name, address, workspace.owner)
        await self._phase(workspace, "route_live", started)
        self._reached("routed")
        running = await self._move(workspace, Status.RUNNING, address=address, error="")
        self._reached("running")
        await self._setup.after_running(running)
        return running

    async def _stop(self, workspace: Workspace) -> Workspace:
        if workspace.status in (Status.PENDING, Status.CREATING):
            workspace = await self._move(workspace, Status.CREATING)
            workspace = await self._ensure_instance(workspace, use_pool=False)
            # (a hand-over a crash cut short finished above left a running instance)
            await self._runtime.stop(instance_name(workspace))
            return await self._move(workspace, Status.STOPPED)
        if workspace.status is not Status.STOPPING:
            workspace = await self._move(workspace, Status.STOPPING)
            self._reached("stopping")
        with contextlib.suppress(NotFoundError):
            await self._routes.remove(workspace.name)
        self._reached("unrouted")
        await self._runtime.stop(instance_name(workspace))
        if self._homes is not None and workspace.stop_reason == StopReason.IDLE.value:
            await self._homes.after_idle_stop(workspace)
        self._reached("instance_stopped")
        stopped = await self._move(workspace, Status.STOPPED)
        self._reached("stopped")
        return stopped

    async def _delete(self, workspace: Workspace) -> Workspace:
        if workspace.status is not Status.DELETING:
            workspace = await self._move(workspace, Status.DELETING)
            self._reached("deleting")
        with contextlib.suppress(NotFoundError):
            await self._routes.remove(workspace.name)
        self._reached("unrouted")
        if self._homes is not None:
            workspace = await self._homes.before_delete(workspace, instance_name(workspace))
        await self._delete_instance(workspace, leave_foreign=True)
        self._reached("instance_deleted")
        deleted = await self._move(workspace, Status.DELETED, address=None)
        self._reached("deleted")
        return deleted

    async def _delete_instance(self, workspace: Workspace, *, leave_foreign: bool = False) -> None:
        """Delete the workspace's instance, if there is one and it is provably this row's
        (``may_delete``). Another installation's, or another workspace's, is never deleted:
        a delete leaves it where it is (``leave_foreign``, logged with the reason), and a
        create refuses to go on over it."""
        instance = instance_name(workspace)
        try:
            owner = await self._runtime.owner(instance)
            if not may_delete(owner, workspace, self._installation):
                message = (
                    f"Instance {instance} is not this workspace's to delete: it records "
                    f"installation {owner.installation if owner else '?'} and workspace "
                    f"{owner.workspace_id if owner else '?'}. Tidepool left it as it is."
                )
                if not leave_foreign:
                    raise RuntimeOperationError(message)
                log.warning("%s", message)
                return
            await self._runtime.delete(instance)
        except NotFoundError:
            return

    async def mark_failed(self, workspace_id: str, error: str) -> Workspace:
        """Record a permanent failure; a later start, stop or delete recovers."""
        workspace = await self._store.get_by_id(workspace_id)
        if workspace.status is Status.DELETED:
            return workspace
        return await self._store.save(
            workspace.move_to(Status.FAILED, error=error), event=("status", "failed", error)
        )
