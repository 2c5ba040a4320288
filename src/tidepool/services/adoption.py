"""Adoption: an instance no workspace of this database runs on becomes a workspace again.

A resync never deletes such an instance (``domain.ownership``); it reports it. This is the way
back for each case it reports: a database switched or restored (the instance records this
installation and a workspace id the database has lost), an upgrade from a Tidepool that named
instances after their workspace (``test``) and recorded no owner, or, deliberately, an
instance another installation made (``take_over``). The instance keeps its name, its files
and its state; a row is written for it (stopped, so that no reconcile step can take it for a
half-made create), the instance is stamped as that row's, and a running one is then started
through the ordinary path, which routes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tidepool.domain.names import (
    INSTANCE_ID_DIGITS,
    InstanceName,
    WorkspaceName,
    validate_workspace_name,
)
from tidepool.domain.ownership import InstanceOwner, Verdict, judge
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError
from tidepool.ports import InstanceStatus, Runtime, WorkspaceStore
from tidepool.services.workspaces import instance_name, live_workspaces


@dataclass(frozen=True, slots=True)
class Adopted:
    workspace: Workspace
    #: The instance was running: the caller starts the workspace so that it is routed.
    running: bool


class Adoption:
    def __init__(
        self, store: WorkspaceStore, runtime: Runtime, *, installation: str, image: str
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._installation = installation
        #: Recorded as the workspace's image (a rebuild would use it); the instance keeps its own.
        self._image = image

    async def adopt(
        self,
        instance: InstanceName,
        name: WorkspaceName,
        owner: str,
        *,
        take_over: bool = False,
    ) -> Adopted:
        """Make ``instance`` workspace ``name`` of ``owner``. ``NotFoundError`` if there is
        no such instance; ``ConflictError`` if a live workspace runs on it already, if the
        name is taken, or if another installation made it and ``take_over`` is not given."""
        listed = {i.name: i for i in await self._runtime.list()}
        found = listed.get(instance)
        if found is None:
            raise NotFoundError(
                f"There is no instance {instance!r} that Tidepool made "
                "(`tidepool service status` lists the ones it found unclaimed)."
            )
        async for workspace in live_workspaces(self._store):
            if instance_name(workspace) == instance:
                raise ConflictError(f"Instance {instance} is workspace {workspace.name!r} already.")
        verdict = judge(found.owner, None, self._installation).verdict
        if verdict is Verdict.FOREIGN and not take_over:
            raise ConflictError(
                f"Instance {instance} was made by another Tidepool installation "
                f"({found.owner.installation if found.owner else '?'}), which may still manage "
                "it; stop that installation first, then adopt with --take-over."
            )
        workspace = Workspace(
            name=name,
            owner=owner,
            image=self._image,
            id=await self._free_id(found.owner),
            desired=Desired.STOPPED,
            status=Status.STOPPED,
            runtime_state={"instance": instance},
        )
        workspace = await self._store.add(workspace)  # ConflictError if the name is taken
        await self._store.add_event(workspace.id, "phase", "adopted", f"instance {instance}")
        await self._runtime.claim(instance, InstanceOwner(self._installation, workspace.id))
        running = found.status in (InstanceStatus.RUNNING, InstanceStatus.STARTING)
        return Adopted(workspace, running)

    async def earlier(self, owner: str) -> list[Adopted]:
        """Adopt, as ``owner``'s, every instance an earlier Tidepool named after its workspace
        (``test``, made by ``vm start`` before workspaces had rows): no owner recorded, a
        workspace's name and not an instance name of today's rule, and no live workspace of
        that name. Safe to repeat: what is adopted records an owner from then on."""
        adopted = []
        taken = {w.name async for w in live_workspaces(self._store)}
        for found in await self._runtime.list():
            if found.owner is not None or _named_by_todays_rule(found.name):
                continue
            try:
                name = validate_workspace_name(found.name)
            except InvalidInputError:
                continue
            if name in taken:
                continue
            adopted.append(await self.adopt(InstanceName(found.name), name, owner))
            taken.add(name)
        return adopted

    async def _free_id(self, owner: InstanceOwner | None) -> str:
        """The workspace id the instance records, if it is this installation's and this
        database has no row of that id (a switched database gets its workspace back as it
        was); else a new one."""
        if owner is None or owner.installation != self._installation:
            return uuid.uuid4().hex
        try:
            await self._store.get_by_id(owner.workspace_id)
        except NotFoundError:
            return owner.workspace_id
        return uuid.uuid4().hex


def _named_by_todays_rule(name: str) -> bool:
    """``PREFIX-`` and 16 hex digits, whatever the prefix (``instance_name_for``)."""
    head, _, digits = name.rpartition("-")
    return (
        bool(head)
        and len(digits) == INSTANCE_ID_DIGITS
        and all(c in "0123456789abcdef" for c in digits)
    )
