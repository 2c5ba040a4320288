"""``/api/workspaces/NAME/keepalive``: hold off idle stops for a while.

For the work an activity check cannot see (a long download in a browser tab elsewhere, a
demo at 3 pm): ``POST`` with a duration (``3h``, ``90m``, ``1d``; at most 7 days) sets it,
``DELETE`` ends it now. A keepalive holds off idle stops only; a user or an admin still stops
the workspace when they ask.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.api.schemas import NAME_RULE, WorkspacePublic
from tidepool.domain.activity import DURATION_PATTERN, parse_duration
from tidepool.domain.workspace import now

router = APIRouter(prefix="/workspaces", tags=["workspaces"], responses=declared(400, 404, 422))
Name = Annotated[str, Path(json_schema_extra=NAME_RULE)]


class KeepaliveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: str = Field(
        min_length=2,
        max_length=20,
        pattern=DURATION_PATTERN,
        description="How long from now, in days, hours, minutes and seconds: 3h, 90m, 1d12h "
        "(at most 7 days: a longer one is refused with 409).",
        examples=["3h", "90m"],
    )


@router.post("/{name}/keepalive", response_model=WorkspacePublic, responses=declared(403, 409))
async def keep_alive(name: Name, body: KeepaliveRequest, plane: Plane, me: Me) -> WorkspacePublic:
    """No idle stop of ``name`` for ``duration`` from now."""
    until = now() + parse_duration(body.duration)
    workspace = await plane.workspaces.keep_alive(name, until, who=me)
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)


@router.delete("/{name}/keepalive", response_model=WorkspacePublic, responses=declared(403, 409))
async def end_keepalive(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    """End ``name``'s keepalive now: idle stops apply again."""
    workspace = await plane.workspaces.keep_alive(name, None, who=me)
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)
