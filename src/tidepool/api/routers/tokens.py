"""``/api/tokens``: a signed-in user's own API tokens (an admin's: anyone's).

Create answers the token once, in full; Tidepool keeps only its hash. Tokens exist only where
the control plane checks credentials itself (``auth = "forward_auth"``); elsewhere these
routes answer 404. Who may mint, list and revoke what is ``TokenAdmin``'s decision.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.api.schemas import NAME_RULE
from tidepool.auth.token_admin import TokenAdmin
from tidepool.auth.token_cache import after_answer
from tidepool.auth.tokens import LABEL_SHAPE, MAX_DAYS, ApiToken
from tidepool.domain.identity import MAX_TOKEN_WORKSPACES, Scope
from tidepool.domain.users import USER_NAME

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=declared(401, 403, 404, 422))


async def token_admin(plane: Plane) -> TokenAdmin:
    auth = plane.authenticator
    if auth is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "API tokens need sign-in (auth = forward_auth)."
        )
    return TokenAdmin(auth.tokens, auth.users, plane.audit)


Tokens = Annotated[TokenAdmin, Depends(token_admin)]


#: The rules ``TokenAdmin`` checks with messages of its own (400), as the schema states them.
USER_RULE: JsonDict = {"pattern": f"^{USER_NAME.pattern}$"}


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(
        default="", max_length=64, json_schema_extra={"pattern": f"^{LABEL_SHAPE.pattern}$"}
    )
    #: ``read``, ``workspaces``, ``admin``, ``ssh``; left out: ``read`` and ``workspaces``.
    scopes: list[str] | None = Field(
        default=None,
        max_length=len(Scope),
        json_schema_extra={"items": {"enum": [scope.value for scope in Scope]}},
    )
    #: The only workspaces the token may see; left out: no limit.
    workspaces: list[str] | None = Field(
        default=None,
        max_length=MAX_TOKEN_WORKSPACES,
        json_schema_extra={"minItems": 1, "items": NAME_RULE},
    )
    #: Lifetime in days; left out: until revoked.
    days: float | None = Field(
        default=None, json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_DAYS}
    )
    #: Whose token (an admin may mint for another user); left out: the caller's own.
    user: str | None = Field(default=None, max_length=32, json_schema_extra=USER_RULE)


class TokenPublic(BaseModel):
    id: str
    user: str
    label: str
    created: dt.datetime
    expires: dt.datetime | None
    revoked: bool
    scopes: list[str]
    workspaces: list[str] | None
    #: Made before tokens had scopes: it holds every scope its user has.
    legacy: bool

    @classmethod
    def of(cls, token: ApiToken) -> TokenPublic:
        return cls(
            id=token.id,
            user=token.user,
            label=token.label,
            created=dt.datetime.fromtimestamp(token.created, dt.UTC),
            expires=(
                dt.datetime.fromtimestamp(token.expires, dt.UTC)
                if token.expires is not None
                else None
            ),
            revoked=token.revoked,
            scopes=sorted(token.effective_scopes),
            workspaces=sorted(token.workspaces) if token.workspaces is not None else None,
            legacy=token.scopes is None,
        )


class TokenCreated(TokenPublic):
    #: The token itself, shown this once.
    token: str


class TokensPublic(BaseModel):
    items: list[TokenPublic]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, responses=declared(400)
)
async def create_token(body: TokenCreate, me: Me, tokens: Tokens) -> TokenCreated:
    secret, token = await tokens.create(
        me,
        user=body.user,
        label=body.label,
        days=body.days,
        scopes=body.scopes,
        workspaces=body.workspaces,
    )
    return TokenCreated(**TokenPublic.of(token).model_dump(), token=secret)


@router.get("", response_model=TokensPublic, responses=declared(400))
async def list_tokens(
    me: Me,
    tokens: Tokens,
    user: Annotated[str | None, Query(max_length=32, json_schema_extra=USER_RULE)] = None,
) -> TokensPublic:
    """The caller's tokens (never the tokens themselves); an admin's: everyone's, or
    ``user``'s."""
    return TokensPublic(items=[TokenPublic.of(t) for t in tokens.list(me, user)])


@router.delete("/{token_id}", response_model=TokenPublic)
async def revoke_token(token_id: str, me: Me, tokens: Tokens, plane: Plane) -> TokenPublic:
    """Revoke a token: requests that present it are refused from now on (Caddy forgets it
    as this answer is sent), and event streams it opened end within seconds."""
    revoked = await tokens.revoke(me, token_id)
    if plane.token_cache is not None:
        after_answer(plane.token_cache.forget(revoked.id))
    return TokenPublic.of(revoked)
