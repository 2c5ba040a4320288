"""``/api/pool``: the warm pools, for admins: how many instances each keeps ready."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared

router = APIRouter(prefix="/pool", tags=["pool"], responses=declared(401, 403))


class PoolPublic(BaseModel):
    """One pool (``services.pool.PoolStatus``, read field by field)."""

    model_config = ConfigDict(from_attributes=True)

    template: str
    #: How many it keeps, how many are ready to be taken, how many are on their way.
    size: int
    ready: int
    starting: int
    image: str
    cpus: int
    memory_mib: int


class PoolsPublic(BaseModel):
    """Every pool as its keeper last saw it (a few seconds old at most); none if no
    template asks for one. Pool instances count against the host, not against any user."""

    items: list[PoolPublic]


@router.get("", response_model=PoolsPublic)
async def read_pools(plane: Plane, me: Me) -> PoolsPublic:
    me.check_admin("see the warm pools")
    return PoolsPublic(items=[PoolPublic.model_validate(s) for s in plane.pool_status()])
