"""Signing in and out, and Caddy's question "who is this?" (``auth = "forward_auth"``).

``POST /api/auth/login`` checks a password and sets the session cookie; ``POST
/api/auth/logout`` ends the session everywhere (the sessions file and Caddy's map);
``GET /api/auth/verify`` is what Caddy asks about a workspace request whose cookie it does not
know yet: a 2xx names the user, anything else is the answer the browser gets. With any other
``auth`` setting these routes answer 404.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api import problems
from tidepool.api.clients import client_address
from tidepool.api.deps import ControlPlane, Me, Plane, request_principal
from tidepool.api.problems import declared
from tidepool.api.routers.handshake import handshake_url, workspace_host_of
from tidepool.auth.authenticator import Authenticator, SignInRefusedError
from tidepool.auth.destinations import Site, safe_destination, site_host
from tidepool.auth.session_proof import cookie_values
from tidepool.auth.sessions import Session, SessionCache
from tidepool.auth.token_cache import after_answer, teach_token
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.identity import Identity
from tidepool.edge import USER_HEADER
from tidepool.errors import InvalidInputError, NotFoundError

router = APIRouter(prefix="/auth", tags=["auth"])
LOGIN_PAGE = "/app/login/"


async def authenticator(plane: Plane) -> Authenticator:
    if plane.authenticator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Sign-in is not on (auth = forward_auth).")
    return plane.authenticator


Auth = Annotated[Authenticator, Depends(authenticator)]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=1024)
    #: Where the browser was going; the answer says where it may go (see ``destinations``).
    next: str = Field(default="", max_length=2048)


class SignedIn(BaseModel):
    name: str
    csrf_token: str
    next: str


async def destination_for(user: str, asked: str, request: Request, plane: ControlPlane) -> str:
    """Where ``user``, just signed in, goes next: ``asked`` as the browser reads it, if it is
    a path on this host (as the browser or the public URL names it) or the origin of a
    workspace ``user`` may see; else the web app."""
    public = urlsplit(plane.public_url)
    site = Site(
        hosts=frozenset(
            {
                site_host(request.url.netloc, request.url.scheme),
                site_host(public.netloc, public.scheme),
            }
        ),
        workspaces=plane.addresses,
    )
    who = Identity(user, admin=user in plane.admins())

    async def may_open(workspace: str) -> bool:
        try:
            await plane.workspaces.get(workspace, who=who)
        except (NotFoundError, InvalidInputError):
            return False
        return True

    return await safe_destination(asked, site, may_open)


@router.post("/login", response_model=SignedIn, responses=declared(400, 401, 403, 404, 422, 429))
async def login(body: SignIn, request: Request, plane: Plane, auth: Auth) -> Response:
    try:
        token, session = await auth.sign_in(body.name, body.password, client_address(request))
    except SignInRefusedError as refused:
        await plane.record(
            AuditEntry(
                "auth.login",
                body.name,
                body.name,
                Outcome.FAILED,
                address=client_address(request),
                detail="rate limited" if refused.retry_after else "wrong user name or password",
            )
        )
        if refused.retry_after:
            return problems.problem(
                429,
                "Too many sign-ins",
                str(refused),
                headers={"Retry-After": str(int(refused.retry_after) + 1)},
            )
        return problems.problem(401, "Sign-in failed", str(refused))
    await plane.record(
        AuditEntry(
            "auth.login", session.user, session.user, Outcome.OK, address=client_address(request)
        )
    )
    signed_in = SignedIn(
        name=session.user,
        csrf_token=session.csrf_token,
        next=await destination_for(session.user, body.next, request, plane),
    )
    response = JSONResponse(signed_in.model_dump())
    # Host-only (no Domain): the session never reaches a workspace origin, whatever its name.
    response.set_cookie(
        plane.session_cookie,
        token,
        max_age=int(auth.sessions.lifetime_seconds),
        path="/",
        httponly=True,
        samesite="lax",
        secure=plane.secure_cookies,
    )
    return response


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=declared(401, 403, 404))
async def logout(request: Request, me: Me, plane: Plane, auth: Auth) -> Response:
    principal = request_principal(request, plane, auth)
    session = principal.session if principal is not None else None
    if session is not None:
        auth.sessions.end(session.key)
        await plane.record(AuditEntry.by(me, "auth.logout", session.user, Outcome.OK))
        if plane.session_cache is not None:
            await plane.session_cache.forget(session.key)
        if plane.revoke_grants is not None:
            await plane.revoke_grants()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        plane.session_cookie,
        path="/",
        secure=plane.secure_cookies,
        httponly=True,
    )
    return response


@router.get("/verify", include_in_schema=False)
async def verify(request: Request, plane: Plane) -> Response:
    """Who a workspace request is from, when Caddy could not tell (no grant on a workspace
    origin, or a session it has not learnt under ``/workspace/``): an API token works on
    both; a session cookie only on the main host, where it is sent."""
    auth = plane.authenticator
    if auth is None:
        if plane.grants is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Sign-in is not on.")
        return refusal(request, plane)
    # Two different session cookies (one of them planted) name no one: never guessed between.
    tokens = set(cookie_values(request.headers.get("cookie", ""), plane.session_cookie))
    token = tokens.pop() if len(tokens) == 1 else None
    principal = auth.identify(token, request.headers.get("authorization"))
    if principal is None:
        return refusal(request, plane)
    if principal.session is not None and token and plane.session_cache is not None:
        teach(plane.session_cache, principal.session, token)
    if principal.token is not None and plane.token_cache is not None:
        authorization = request.headers.get("authorization", "")
        teach_token(plane.token_cache, principal.token.id, authorization, principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={USER_HEADER: principal.user})


def refusal(request: Request, plane: Plane) -> Response:
    """A browser opening a page is sent to sign in (and back after); anything else gets 401.
    A workspace origin has no sign-in page of its own (every path there is the workspace's):
    it sends the browser through the handshake on the main host, which signs it in first if
    need be, with the full address to come back to."""
    method = request.headers.get("x-forwarded-method", request.method)
    wants_page = "text/html" in request.headers.get("accept", "")
    if method != "GET" or not wants_page:
        return problems.problem(401, "Sign in required", "Sign in required.")
    back = request.headers.get("x-forwarded-uri", "/")
    target = workspace_host_of(request, plane)
    if target is not None and plane.addresses is not None:
        origin = f"{plane.addresses.scheme}://{plane.addresses.host(target.name, target.port)}"
        return RedirectResponse(handshake_url(plane, f"{origin}{back}"), status_code=302)
    return RedirectResponse(f"{LOGIN_PAGE}?next={quote(back, safe='')}", status_code=302)


def teach(cache: SessionCache, session: Session, token: str) -> None:
    """Add the session to Caddy's map after this answer is sent (``after_answer``)."""
    after_answer(cache.remember(session.key, token, session.user))
