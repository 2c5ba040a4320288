"""``/api/me``: who Caddy says is asking (the web app shows it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tidepool.api.deps import Me

router = APIRouter(tags=["me"])


class MePublic(BaseModel):
    name: str
    admin: bool


@router.get("/me", response_model=MePublic)
async def me(identity: Me) -> MePublic:
    return MePublic(name=identity.name, admin=identity.admin)
