"""``/api/templates``: what a new workspace can be made from (the admin's list)."""

from __future__ import annotations

from fastapi import APIRouter

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.api.schemas import TemplatesPublic

router = APIRouter(tags=["templates"], responses=declared(401))


@router.get("/templates", response_model=TemplatesPublic)
async def list_templates(plane: Plane, me: Me) -> TemplatesPublic:
    """Every template, ``default`` first, with the most a workspace may ask for. Anyone
    signed in may read it: it names images and sizes, nothing of anyone's."""
    del me  # asked for so that only a signed-in caller reads it
    return TemplatesPublic.of(plane.workspaces.catalog)
