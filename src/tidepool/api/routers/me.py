"""``/api/me``: who is asking (the web app shows it, and takes its CSRF token from it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tidepool.api.deps import Me
from tidepool.api.problems import declared

router = APIRouter(tags=["me"], responses=declared(401))


class MePublic(BaseModel):
    name: str
    admin: bool
    #: For a browser session: the token to send in ``X-CSRF-Token`` with changes.
    csrf_token: str = ""
    #: True when the user signed in on Tidepool's page and may sign out there.
    can_sign_out: bool = False
    #: What the credential allows (``read``, ``workspaces``, ``admin``).
    scopes: list[str] = []
    #: The only workspaces a limited token may see.
    workspaces: list[str] | None = None
    #: The id of the API token the request came with.
    token_id: str = ""


@router.get("/me", response_model=MePublic, response_model_exclude_defaults=True)
async def me(identity: Me) -> MePublic:
    return MePublic(
        name=identity.name,
        admin=identity.admin,
        csrf_token=identity.csrf_token,
        can_sign_out=bool(identity.csrf_token),
        scopes=sorted(identity.scopes),
        workspaces=sorted(identity.workspaces) if identity.workspaces is not None else None,
        token_id=identity.token_id,
    )
