"""``/api/pool``: the warm pools, for admins: how many instances each keeps ready."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.services.pool import PoolStatus

router = APIRouter(prefix="/pool", tags=["pool"], responses=declared(401, 403))


class PoolPublic(BaseModel):
    template: str
    #: How many it keeps, how many are ready to be taken, how many are on their way.
    size: int
    ready: int
    starting: int
    image: str
    cpus: int
    memory_mib: int

    @classmethod
    def of(cls, status: PoolStatus) -> PoolPublic:
        return cls(
            template=status.template,
            size=status.size,
            ready=status.ready,
            starting=status.starting,
            image=status.image,
            cpus=status.cpus,
            memory_mib=status.memory_mib,
        )


class PoolsPublic(BaseModel):
    """Every pool as its keeper last saw it (a few seconds old at most); none if no
    template asks for one. Pool instances count against the host, not against any user."""

    items: list[PoolPublic]


@router.get("", response_model=PoolsPublic)
async def read_pools(plane: Plane, me: Me) -> PoolsPublic:
    me.check_admin("see the warm pools")
    return PoolsPublic(items=[PoolPublic.of(status) for status in plane.pool_status()])
