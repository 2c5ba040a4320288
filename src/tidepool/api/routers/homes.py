"""A workspace's home: ``/api/workspaces/NAME/snapshots`` (take, list, restore, delete),
``/rebuild``, ``/fork``, and ``/api/workspaces/NAME/undelete`` for a deleted one.

The handlers translate HTTP to ``HomeService`` and back; who may do what is decided there
(someone else's workspace answers as a missing one). A restore and a rebuild answer at once
with the workspace, its work enqueued (202); fork and undelete answer with the new workspace,
``pending``, as a create does (201).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import ControlPlane, Me, Plane
from tidepool.api.problems import declared
from tidepool.api.schemas import NAME_RULE, WorkspacePublic
from tidepool.domain.snapshots import SNAPSHOT_NAME_RULE, Retention, Snapshot
from tidepool.domain.workspace import Workspace
from tidepool.services.homes import HomeService

router = APIRouter(prefix="/workspaces", tags=["homes"], responses=declared(400, 404, 422))
Name = Annotated[str, Path(json_schema_extra=NAME_RULE)]
SnapshotName = Annotated[str, Path(min_length=1, max_length=80)]


class SnapshotPublic(BaseModel):
    name: str
    taken_at: datetime
    #: Taken by Tidepool (before a delete, an idle stop or a restore): pruned by retention.
    automatic: bool
    #: An automatic one is deleted by then at the latest (a deleted workspace's: the end of
    #: its undelete); None for a user's, or when retention keeps them at any age.
    kept_until: datetime | None = None

    @classmethod
    def of(cls, snapshot: Snapshot, retention: Retention) -> SnapshotPublic:
        until = retention.keeps_until(snapshot.taken_at) if snapshot.automatic else None
        return cls(
            name=snapshot.name,
            taken_at=snapshot.taken_at,
            automatic=snapshot.automatic,
            kept_until=until,
        )


class SnapshotsPublic(BaseModel):
    data: list[SnapshotPublic]


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=63,
        # (checked by the service, with a readable answer: the rule has a look-ahead, which
        # the schema's regex engine does not take)
        description="A lowercase letter, then lowercase letters, digits and hyphens; "
        f"'auto-' is Tidepool's ({SNAPSHOT_NAME_RULE}).",
        examples=["before-upgrade"],
    )


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot: str = Field(min_length=1, max_length=80)


class RebuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(
        default=None, max_length=63, description="Move to this template (default: its own)."
    )


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63, json_schema_extra=NAME_RULE)


def _homes(plane: ControlPlane) -> HomeService:
    if plane.homes is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This control plane keeps no homes.")
    return plane.homes


def _public(plane: ControlPlane, workspace: Workspace) -> WorkspacePublic:
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)


@router.get("/{name}/snapshots", response_model=SnapshotsPublic, responses=declared(409))
async def list_snapshots(name: Name, plane: Plane, me: Me) -> SnapshotsPublic:
    """``name``'s home snapshots, oldest first."""
    taken = await _homes(plane).snapshots(name, who=me)
    homes = _homes(plane)
    return SnapshotsPublic(data=[SnapshotPublic.of(s, homes.retention) for s in taken])


@router.post(
    "/{name}/snapshots",
    response_model=SnapshotPublic,
    status_code=status.HTTP_201_CREATED,
    responses=declared(403, 409),
)
async def take_snapshot(name: Name, body: SnapshotCreate, plane: Plane, me: Me) -> SnapshotPublic:
    """Snapshot ``name``'s home now, running or not (copy-on-write: instant)."""
    homes = _homes(plane)
    return SnapshotPublic.of(await homes.take_snapshot(name, body.name, who=me), homes.retention)


@router.delete(
    "/{name}/snapshots/{snapshot}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=declared(403, 409),
)
async def delete_snapshot(name: Name, snapshot: SnapshotName, plane: Plane, me: Me) -> None:
    await _homes(plane).delete_snapshot(name, snapshot, who=me)


@router.post(
    "/{name}/restore",
    response_model=WorkspacePublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=declared(403, 409),
)
async def restore(name: Name, body: RestoreRequest, plane: Plane, me: Me) -> WorkspacePublic:
    """Put ``name``'s home back as it was in ``snapshot``: it stops, its home is snapshotted
    first (``auto-restore-...``), and it runs again if it ran."""
    return _public(plane, await _homes(plane).restore(name, body.snapshot, who=me))


@router.post(
    "/{name}/rebuild",
    response_model=WorkspacePublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=declared(403, 409),
)
async def rebuild(name: Name, body: RebuildRequest, plane: Plane, me: Me) -> WorkspacePublic:
    """A new root filesystem from the template's current image; home is kept."""
    return _public(plane, await _homes(plane).rebuild(name, who=me, template=body.template))


@router.post(
    "/{name}/fork",
    response_model=WorkspacePublic,
    status_code=status.HTTP_201_CREATED,
    responses=declared(403, 409),
)
async def fork(name: Name, body: ForkRequest, plane: Plane, me: Me) -> WorkspacePublic:
    """A new workspace of yours with a copy of ``name``'s home as it is now."""
    return _public(plane, await _homes(plane).fork(name, body.name, who=me))


@router.post(
    "/{name}/undelete",
    response_model=WorkspacePublic,
    status_code=status.HTTP_201_CREATED,
    responses=declared(403, 409),
)
async def undelete(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    """Bring back the deleted workspace ``name`` with its home as its delete left it (while
    retention keeps that snapshot), if the name is free."""
    return _public(plane, await _homes(plane).undelete(name, who=me))
