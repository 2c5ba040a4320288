"""``/api/health``: is the API up and can it read the database."""

from __future__ import annotations

from fastapi import APIRouter

from tidepool.api.deps import Plane
from tidepool.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(plane: Plane) -> Health:
    """``ping`` reads one row: a list here counted every workspace on every probe."""
    await plane.store.ping()
    return Health(status="ok", database="ok")
