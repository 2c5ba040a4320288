"""``POST /api/workspaces/NAME/move``: move a stopped workspace to another cluster member.

Answered once Incus has moved it (a move copies its disk, so it can take a while). A running
workspace, or an installation that is not on a cluster, is a 409; a member that does not
exist, a 400 that lists the members.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.api.schemas import NAME_RULE, WorkspacePublic

router = APIRouter(prefix="/workspaces", tags=["workspaces"], responses=declared(400, 404, 422))
Name = Annotated[str, Path(json_schema_extra=NAME_RULE)]


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The cluster member to move it to, as ``/1.0/cluster/members`` names it.
    member: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@router.post("/{name}/move", response_model=WorkspacePublic, responses=declared(403, 409))
async def move(name: Name, body: MoveRequest, plane: Plane, me: Me) -> WorkspacePublic:
    if plane.mover is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "This control plane moves no workspaces.")
    workspace = await plane.mover.move(name, body.member, who=me)
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)
