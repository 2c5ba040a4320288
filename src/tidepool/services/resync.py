"""The periodic full resync: compare the database with Incus and Caddy and repair drift.

Like JupyterHub's ``check_routes``: add what is missing, remove what is stale, report what
vanished, and skip whatever is mid-transition (a job is working on it right now).

An instance is removed only when ``judge`` proves it this installation's and unwanted; one
this database does not know, or another installation's, is left running and reported
(``ResyncReport.unclaimed``): a switched or restored database, or a second installation on the
same Incus, must never cost anyone their files.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner, Unclaimed, Verdict, judge
from tidepool.domain.pool import is_unheld
from tidepool.domain.routing import IN_TRANSITION, plan_routes
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.errors import NotFoundError
from tidepool.ports import InstanceState, InstanceStatus, RouteTable, Runtime, WorkspaceStore
from tidepool.services.routing import apply_route_plan
from tidepool.services.workspaces import VANISHED, instance_name, live_workspaces

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ResyncReport:
    orphan_instances_removed: list[str] = field(default_factory=list)
    #: Instances made before owners were recorded, now stamped as their workspace's.
    claimed: list[str] = field(default_factory=list)
    unclaimed: list[Unclaimed] = field(default_factory=list)
    orphan_routes_removed: list[str] = field(default_factory=list)
    routes_restored: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    #: On a cluster: workspaces whose member went away, and those whose member came back.
    unavailable: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.orphan_instances_removed,
                self.claimed,
                self.orphan_routes_removed,
                self.routes_restored,
                self.vanished,
                self.requeued,
                self.unavailable,
                self.returned,
            )
        )


async def resync(
    store: WorkspaceStore,
    runtime: Runtime,
    routes: RouteTable,
    *,
    installation: str,
    offline: Mapping[str, str] | None = None,
    lead: bool = True,
) -> ResyncReport:
    """One pass: unwanted instances removed, unclaimed ones reported, vanished instances
    reported, stopped ones restarted, and the route table brought to ``plan_routes``. On a
    cluster, ``offline`` names the members that went away (with why): their workspaces are
    ``unavailable``, not failed, until they come back.

    The runtime and the route table are read BEFORE the database: whatever an instance or a
    route was made for already has its row when the rows are read (a row is always written
    before its instance or route), so a workspace created while this pass runs is never
    mistaken for an unknown one.

    Only the leader among several control planes (``lead``, ``ports.Leadership``) repairs
    instances and statuses; every other one brings its own Caddy's routes to the plan.
    """
    report = ResyncReport()
    if not lead:
        await follow_routes(store, routes, report)
        return report
    seen = {instance.name: instance for instance in await runtime.list()}
    current_routes = dict(await routes.entries())
    workspaces = [w async for w in live_workspaces(store)]
    by_instance: dict[str, Workspace] = {instance_name(w): w for w in workspaces}

    instances: dict[str, InstanceState] = {}
    for name in sorted(seen):
        owner = seen[name].owner
        if is_unheld(owner, installation):
            continue  # the warm pool's: its keeper's to keep or drain (``services.pool``)
        row = by_instance.get(name)
        if row is None or (owner is not None and owner.workspace_id != row.id):
            # (two rows may name one instance for a moment: a pool hand-over cut short)
            row = await _row_named_by(store, owner, installation) or row
        judgement = judge(owner, row, installation)
        if judgement.verdict is Verdict.WANTED and row is not None:
            instances[name] = seen[name]
            if owner is None:  # made before owners were recorded: this row proves it ours
                await runtime.claim(InstanceName(name), InstanceOwner(installation, row.id))
                report.claimed.append(name)
        elif judgement.verdict is Verdict.UNWANTED:
            with contextlib.suppress(NotFoundError):
                await runtime.delete(InstanceName(name))
            report.orphan_instances_removed.append(name)
        else:
            report.unclaimed.append(Unclaimed(name, judgement.verdict, judgement.reason, owner))

    away = offline or {}
    now_seen = [await _repair_status(store, w, instances, report, away) for w in workspaces]
    plan = plan_routes(now_seen, current_routes)
    await apply_route_plan(routes, plan)
    report.orphan_routes_removed.extend(plan.remove)
    by_name = {w.name: w for w in now_seen}
    for name in sorted({**plan.add, **plan.change}):
        report.routes_restored.append(name)
        await store.add_event(by_name[name].id, "phase", "route_live", "restored by resync")
    if report.changed:
        log.info("resync repaired drift: %s", report)
    return report


async def follow_routes(
    store: WorkspaceStore, routes: RouteTable, report: ResyncReport | None = None
) -> ResyncReport:
    """This process's route table brought to the database's plan, and nothing else: what a
    control plane that does not lead does at each resync, and whenever another one changed a
    workspace (``services.route_follower``), since each runs a Caddy of its own. Workspaces
    mid-transition keep their routes: the job working on one writes its route itself."""
    report = report if report is not None else ResyncReport()
    current_routes = dict(await routes.entries())
    workspaces = [w async for w in live_workspaces(store)]
    plan = plan_routes(workspaces, current_routes)
    await apply_route_plan(routes, plan)
    report.orphan_routes_removed.extend(plan.remove)
    report.routes_restored.extend(sorted(set(plan.add) | set(plan.change)))
    return report


async def _row_named_by(
    store: WorkspaceStore, owner: InstanceOwner | None, installation: str
) -> Workspace | None:
    """The row (deleted ones included) of the workspace ``owner`` names, if it is this
    installation's and this database has it."""
    if owner is None or owner.installation != installation:
        return None
    try:
        return await store.get_by_id(owner.workspace_id)
    except NotFoundError:
        return None


async def _repair_status(
    store: WorkspaceStore,
    workspace: Workspace,
    instances: dict[str, InstanceState],
    report: ResyncReport,
    offline: Mapping[str, str],
) -> Workspace:
    """The workspace after repairing what its instance says; unchanged while a job works on
    it (``IN_TRANSITION``): that job's lease protects it."""
    if workspace.status in IN_TRANSITION:
        return workspace
    if workspace.location in offline or workspace.status is Status.UNAVAILABLE:
        return await _member_away_or_back(store, workspace, report, offline)
    instance = instances.get(instance_name(workspace))
    if workspace.status in (Status.RUNNING, Status.STOPPED) and instance is None:
        report.vanished.append(workspace.name)
        return await store.save(
            workspace.move_to(Status.FAILED, error=VANISHED), event=("status", "failed", VANISHED)
        )
    if workspace.status is Status.RUNNING and instance is not None:
        if instance.status is InstanceStatus.RUNNING:
            return workspace
        report.requeued.append(workspace.name)
        return await store.save(
            workspace.move_to(Status.STARTING),
            event=("status", "starting", "instance stopped outside Tidepool"),
            enqueue=True,
        )
    if not workspace.settled and workspace.status is not Status.FAILED:
        await store.enqueue(workspace.id)
        report.requeued.append(workspace.name)
    return workspace


async def _member_away_or_back(
    store: WorkspaceStore, workspace: Workspace, report: ResyncReport, offline: Mapping[str, str]
) -> Workspace:
    """A workspace whose cluster member went away waits, ``unavailable``, with why; once the
    member is back, it is taken where its user wants it (its instance kept running, or was
    stopped with the member, and the reconciler finds out which)."""
    member = workspace.location
    if member in offline:
        if workspace.status not in (Status.RUNNING, Status.STOPPED, Status.FAILED):
            return workspace  # already unavailable, or pending: nothing to say yet
        why = f"Cluster member {member} is offline ({offline[member]}); it comes back with it."
        report.unavailable.append(workspace.name)
        return await store.save(
            workspace.move_to(Status.UNAVAILABLE, error=why),
            event=("status", "unavailable", why),
        )
    next_status = Status.STOPPING if workspace.desired is Desired.STOPPED else Status.STARTING
    if workspace.desired is Desired.DELETED:
        next_status = Status.DELETING
    report.returned.append(workspace.name)
    return await store.save(
        workspace.move_to(next_status),
        event=("status", next_status.value, f"cluster member {member} is back"),
        enqueue=True,
    )
