"""The user's side of the control plane: create, list, show, start, stop, delete.

A request never touches an instance or a route. It writes what the user wants (``desired``)
and enqueues a reconcile job in the same transaction; the worker does the rest. So a request
answers in milliseconds, and a crash between request and work loses nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime

from tidepool.domain.activity import StopReason, check_keepalive
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.home import HOME, home_volume_for
from tidepool.domain.identity import HOST, Identity
from tidepool.domain.names import (
    InstanceName,
    WorkspaceName,
    instance_name_for,
    validate_workspace_name,
)
from tidepool.domain.quotas import Footprint, Quota, QuotaExceededError, Usage, check
from tidepool.domain.repositories import Repository, repository
from tidepool.domain.templates import DEFAULT_TEMPLATE, Catalog, Maximums, Size, Template
from tidepool.domain.workspace import Action, Desired, Status, Workspace, now
from tidepool.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TidepoolError,
)
from tidepool.ports import AuditTrail, Page, WorkspaceStore

#: How often a request re-reads and retries when a concurrent write got there first.
CONFLICT_RETRIES = 5


#: A size that leaves every part to the template.
UNSET_SIZE = Size()


class WorkspaceService:
    """The use cases, each decided for an ``Identity``: who may see and act on what is
    decided here, once, for the API, the web app, the CLI over the socket and the by-hand
    commands. Someone else's workspace answers exactly as a missing one. Names are global (one
    namespace per host: they become URL segments and host names), so ``create`` of a taken
    name is a conflict whoever holds it; that much is public.

    What the credential allows (a token's scopes and workspace limit) is decided here too,
    through ``Identity``: a refused change is ``ForbiddenError`` (403), a workspace outside a
    token's limit answers as a missing one. Every change, and every refused attempt at one or
    at someone else's workspace, goes to the audit trail; successful reads do not.
    """

    def __init__(
        self,
        store: WorkspaceStore,
        *,
        default_image: str,
        catalog: Catalog | None = None,
        instance_prefix: str = "ws",
        audit: AuditTrail | None = None,
        quota_of: Callable[[str], Quota] | None = None,
        home_volumes: bool = False,
    ) -> None:
        self._store = store
        #: New workspaces get a home volume of their own (``domain.home``).
        self._home_volumes = home_volumes
        #: Each user's quota (None: no quotas). The host (root) has none.
        self._quota_of = quota_of
        #: Checking a quota and saving what it allowed is one step per owner.
        self._owner_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._default_image = default_image
        #: Without one, the ``default`` template alone: the default image, sized at boot.
        self.catalog = catalog or Catalog(
            [Template(DEFAULT_TEMPLATE, "The standard workspace image.", default_image, Size())],
            Maximums(cpus=1024, memory_mib=1 << 30, disk_gib=1 << 20),
        )
        self._instance_prefix = instance_prefix
        self._audit = audit

    async def record(
        self, who: Identity, action: str, name: str, outcome: Outcome, detail: str = ""
    ) -> None:
        if self._audit is not None:
            await self._audit.record(
                AuditEntry.by(who, f"workspace.{action}", name, outcome, detail)
            )

    async def create(
        self,
        name: str,
        *,
        who: Identity,
        image: str | None = None,
        template: str | None = None,
        size: Size = UNSET_SIZE,
        repository_url: str | None = None,
        branch: str | None = None,
    ) -> Workspace:
        """A new workspace of ``who``'s, ``pending``, with its first reconcile job enqueued.

        It is made from ``template`` (``default`` if None), at the template's size where
        ``size`` leaves a part unset; ``image`` (the host's by-hand commands only) replaces
        the template's image. ``repository_url`` (and ``branch``) is cloned into home at
        the first boot, instead of the template's repository if it has one.
        """
        name = validate_workspace_name(name)
        try:
            who.check_may_change("create", name)
            chosen = self.template(template or DEFAULT_TEMPLATE)
            workspace = Workspace(
                name=name,
                owner=who.name,
                image=image or chosen.image,
                template=chosen.name,
                size=self.catalog.size_for(chosen, size),
                repository=_source(chosen, repository_url, branch),
            )
            workspace = replace(workspace, runtime_state=self.new_state(workspace.id))
            created = await self.add_within_quota(who, workspace)
        except ForbiddenError as refused:
            await self.record(who, "create", name, Outcome.DENIED, str(refused))
            raise
        except (ConflictError, InvalidInputError) as failed:
            await self.record(who, "create", name, Outcome.FAILED, str(failed))
            raise
        await self.record(who, "create", name, Outcome.OK)
        return created

    async def add_within_quota(self, who: Identity, workspace: Workspace) -> Workspace:
        """Add a new workspace of ``workspace.owner``'s if their quota allows it (checking
        and saving are one step per owner); ``QuotaExceededError``, ``ConflictError``."""
        async with self._owner_locks[workspace.owner]:
            await self.check_quota(who, workspace, new=True)
            return await self._store.add(workspace)

    def new_state(self, workspace_id: str) -> dict[str, str]:
        """A new workspace's adapter-private state: its instance, and its home volume."""
        state: dict[str, str] = {"instance": instance_name_for(self._instance_prefix, workspace_id)}
        if self._home_volumes:
            state[HOME] = home_volume_for(self._instance_prefix, workspace_id)
        return state

    async def check_quota(self, who: Identity, workspace: Workspace, *, new: bool) -> None:
        """``QuotaExceededError`` if ``workspace`` (new, or about to run) takes its owner
        over their quota. The host (root on this machine) has none."""
        if self._quota_of is None or who.address == HOST.address:
            return
        usage = Usage.of([self._footprint(w) async for w in self._owned(workspace.owner)])
        check(
            workspace.owner,
            self._quota_of(workspace.owner),
            usage,
            new=new,
            runs=self._footprint(replace(workspace, desired=Desired.RUNNING)),
        )

    def _footprint(self, workspace: Workspace) -> Footprint:
        """What ``workspace`` counts for; a size made before templates counts as today's
        ``default`` template's."""
        default = self.catalog.get(DEFAULT_TEMPLATE).size
        return Footprint(
            running=workspace.desired is Desired.RUNNING,
            cpus=workspace.size.cpus or default.cpus or 0,
            memory_mib=workspace.size.memory_mib or default.memory_mib or 0,
        )

    async def _owned(self, owner: str) -> AsyncIterator[Workspace]:
        """``owner``'s workspaces that count: not deleted, nor being deleted."""
        async for workspace in live_workspaces(self._store, owner=owner):
            if workspace.desired is not Desired.DELETED:
                yield workspace

    def template(self, name: str) -> Template:
        """The template ``name``; one that does not exist is bad input here (400), not a
        missing resource."""
        try:
            return self.catalog.get(name)
        except NotFoundError as missing:
            raise InvalidInputError(str(missing)) from None

    async def visible(self, name: WorkspaceName, who: Identity, action: str) -> Workspace:
        """The workspace if ``who`` may see it; else ``NotFoundError``, as for a missing one,
        and a workspace that exists but is hidden from ``who`` leaves a refusal in the log."""
        workspace = await self._store.get(name)
        if not who.may_see(workspace.owner, workspace.name):
            outside = who.workspaces is not None and workspace.name not in who.workspaces
            why = "outside the token's workspaces" if outside else "someone else's workspace"
            await self.record(who, action, name, Outcome.DENIED, why)
            raise NotFoundError(f"No workspace named {name!r}.")
        return workspace

    async def ensure_running(
        self, name: WorkspaceName, *, who: Identity, image: str | None = None
    ) -> Workspace:
        """The workspace ``name``, meant to run: created if there is none, asked to start if
        it is stopped or failed, returned as it is if it already runs or is on its way."""
        try:
            current = await self.visible(name, who, "start")
        except NotFoundError:
            return await self.create(name, who=who, image=image)
        if current.desired is Desired.RUNNING and current.status is not Status.FAILED:
            return current
        return await self.request(name, Action.START, who=who)

    async def get(self, name: str, *, who: Identity, purpose: str = "read") -> Workspace:
        """The workspace if ``who`` may see it, else ``NotFoundError`` (the store's words);
        ``purpose`` names the attempt in the audit log if it is refused (``events``)."""
        return await self.visible(validate_workspace_name(name), who, purpose)

    async def name_if_visible(self, workspace_id: str, *, who: Identity) -> str | None:
        """The workspace's name if it exists and ``who`` may see it (for event feeds)."""
        try:
            workspace = await self._store.get_by_id(workspace_id)
        except NotFoundError:
            return None
        return workspace.name if who.may_see(workspace.owner, workspace.name) else None

    async def list(
        self,
        *,
        who: Identity,
        status: Status | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """The workspaces ``who`` may see. A token limited to named workspaces (a short
        list) gets those of them that exist and are its user's to see."""
        if who.workspaces is None:
            return await self._store.list(
                status=status, owner=who.owner_filter, limit=limit, offset=offset
            )
        found: list[Workspace] = []
        for name in sorted(who.workspaces):
            try:
                workspace = await self._store.get(name)
            except NotFoundError:
                continue
            if who.may_see(workspace.owner, name) and status in (None, workspace.status):
                found.append(workspace)
        found.sort(key=lambda w: (w.created_at, w.id))
        return Page(items=found[offset : offset + limit], total=len(found))

    async def ssh_target(self, name: str, *, who: Identity) -> Workspace:
        """The running workspace ``who`` may open an SSH tunnel into, and the audit log's
        record of the attempt: someone else's is missing (``NotFoundError``), a credential
        without ``ssh`` is refused, a workspace that is not running is a ``ConflictError``."""
        name = validate_workspace_name(name)
        workspace = await self.visible(name, who, "ssh")
        try:
            who.check_may_ssh(name)
            if workspace.status is not Status.RUNNING or not workspace.address:
                raise ConflictError(f"Workspace {name!r} is not running; start it first.")
        except TidepoolError as refused:
            await self.record(who, "ssh", name, Outcome.DENIED, str(refused))
            raise
        await self.record(who, "ssh", name, Outcome.OK)
        return workspace

    async def request(
        self, name: str, action: Action, *, who: Identity, reason: StopReason | None = None
    ) -> Workspace:
        """Record that ``who`` wants ``action``; serialized against concurrent writes.

        Two concurrent actions on one workspace both land, one after the other: the loser of
        the optimistic-concurrency race re-reads and applies its action to the new state. A
        stop records ``reason``: by default the user's own, or an admin's for someone else's.
        """
        name = validate_workspace_name(name)
        try:
            done = await self._request(name, action, who, reason)
        except ForbiddenError as refused:
            await self.record(who, action.value, name, Outcome.DENIED, str(refused))
            raise
        except NotFoundError:
            raise  # a missing name is nobody's business; a hidden one was logged by visible
        except TidepoolError as failed:
            await self.record(who, action.value, name, Outcome.FAILED, str(failed))
            raise
        await self.record(who, action.value, name, Outcome.OK)
        return done

    async def _request(
        self, name: WorkspaceName, action: Action, who: Identity, reason: StopReason | None
    ) -> Workspace:
        for _ in range(CONFLICT_RETRIES):
            current = await self.visible(name, who, action.value)
            who.check_may_change(action.value, name)
            why = reason or (StopReason.USER if who.name == current.owner else StopReason.ADMIN)
            wanted = current.request(action, why)
            if wanted is current:
                return current
            detail = why.value if action is Action.STOP else ""
            try:
                async with self._owner_locks[current.owner]:
                    if action is Action.START and current.desired is not Desired.RUNNING:
                        await self.check_quota(who, current, new=False)
                    return await self._store.save(
                        wanted, event=("request", action.value, detail), enqueue=True
                    )
            except QuotaExceededError:
                raise
            except ConflictError:
                continue
        raise ConflictError(f"Workspace {name!r} is changing too fast; try again.")

    async def keep_alive(self, name: str, until: datetime | None, *, who: Identity) -> Workspace:
        """Hold off idle stops of ``name`` until ``until`` (None: from now on, no longer)."""
        name = validate_workspace_name(name)
        check_keepalive(until, now())
        for _ in range(CONFLICT_RETRIES):
            current = await self.visible(name, who, "keepalive")
            who.check_may_change("keep alive", name)
            wanted = replace(current, keepalive_until=until, updated_at=now())
            detail = until.isoformat(timespec="seconds") if until else "cancelled"
            try:
                done = await self._store.save(wanted, event=("keepalive", "set", detail))
            except ConflictError:
                continue
            await self.record(who, "keepalive", name, Outcome.OK, detail)
            return done
        raise ConflictError(f"Workspace {name!r} is changing too fast; try again.")


def _source(template: Template, url: str | None, branch: str | None) -> Repository | None:
    """What to clone: the URL asked for, else the template's; a branch asked for applies to
    either."""
    if url is not None:
        return repository(url, branch or "")
    if template.repository is None:
        if branch is not None:
            raise InvalidInputError("A branch needs a repository to be a branch of.")
        return None
    return repository(template.repository.url, branch or template.repository.branch)


#: Why a workspace failed whose instance was deleted outside Tidepool, whoever finds it gone:
#: the resync, or a job that was starting it again (the resync saw it stopped mid-delete).
VANISHED = "The workspace's instance vanished outside Tidepool."


def instance_name(workspace: Workspace) -> InstanceName:
    """The runtime instance behind a workspace: derived from its id, never from its name.

    A name can be reused once its workspace is deleted; an id cannot, so the old and the new
    workspace never fight over one instance. The name is fixed at creation (by
    ``instance_name_for``, with the prefix of that day) and kept in the adapter-private state.
    """
    kept = workspace.runtime_state.get("instance")
    return InstanceName(str(kept)) if kept else instance_name_for("ws", workspace.id)


async def live_workspaces(
    store: WorkspaceStore, page_size: int = 500, owner: str | None = None
) -> AsyncIterator[Workspace]:
    """Every live workspace (``owner``'s only, if given), a page at a time (the list may be
    long)."""
    offset = 0
    while True:
        page = await store.list(owner=owner, limit=page_size, offset=offset)
        for workspace in page.items:
            yield workspace
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return
