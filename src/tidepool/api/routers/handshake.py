"""The handshake that lets a browser into a workspace origin (``handshake`` and ``grants``).

1. A browser opens ``http://alice.WORKSPACE_DOMAIN/...`` without a grant; Caddy sends it to
   ``/api/auth/handshake?to=THAT_URL`` on the main host.
2. There the control plane knows the browser by its session (or basic auth), checks that the
   user may open ``alice``, and sends it back to ``THAT_ORIGIN/_tidepool/exchange`` with a
   one-time code and the path it was going to.
3. Caddy forwards the exchange to ``/api/auth/exchange`` saying which host it was for; the
   control plane spends the code, writes the grant, sets it as a cookie for that host alone,
   and sends the browser on to the path.

Nothing here changes Caddy's config: the grant is a file Caddy reads per request.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import ControlPlane, Me, Plane, get_identity, request_principal
from tidepool.auth.destinations import Site, parse_destination
from tidepool.auth.grants import grant_source
from tidepool.auth.handshake import CodeClaim
from tidepool.domain.identity import Identity
from tidepool.domain.origins import EXCHANGE_PATH, WorkspaceHost
from tidepool.edge import HOST_HEADER, VIA_HEADER
from tidepool.errors import InvalidInputError, NotFoundError

router = APIRouter(prefix="/auth", tags=["auth"], include_in_schema=False)
LOGIN_PAGE = "/app/login/"
HANDSHAKE_PATH = "/api/auth/handshake"
#: The web app's page that asks for the handshake with the session's proof.
OPEN_PAGE = "/app/open/"


def page(status_code: int, title: str, message: str) -> HTMLResponse:
    """A small page for a person (these are browser navigations, not API calls)."""
    body = (
        "<!doctype html><meta charset=utf-8><title>Tidepool</title>"
        f"<h1>{title}</h1><p>{message}</p><p><a href=/app/>Your workspaces</a></p>"
    )
    return HTMLResponse(body, status_code, headers={"Cache-Control": "no-store"})


def handshake_url(plane: ControlPlane, to: str) -> str:
    """Where a browser without a grant for ``to`` (a workspace URL) is sent."""
    return f"{plane.public_url}{HANDSHAKE_PATH}?to={quote(to, safe='')}"


@router.get("/handshake")
async def handshake(to: str, request: Request, plane: Plane) -> Response:
    """Send a signed-in browser back to the workspace origin ``to`` with a one-time code.
    Where a session cookie counts only with its proof, which a navigation cannot carry, the
    web app's page ``OPEN_PAGE`` asks instead (``handshake_with_proof``)."""
    if plane.codes is None or plane.addresses is None:
        return page(404, "Not here", "Workspaces here need no sign-in of their own.")
    found = destination(plane, to)
    if found is None:
        return page(400, "Not a workspace", "That address is not a workspace of this Tidepool.")
    if plane.cookies_need_proof:
        return RedirectResponse(
            f"{OPEN_PAGE}?to={quote(to, safe='')}",
            status_code=302,
            headers={"Cache-Control": "no-store"},
        )
    try:
        who = await get_identity(request, plane)
    except HTTPException as refused:
        if refused.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        back = quote(f"{HANDSHAKE_PATH}?to={quote(to, safe='')}", safe="")
        return RedirectResponse(f"{LOGIN_PAGE}?next={back}", status_code=302)
    url = await exchange_url(plane, who, to, request)
    if url is None:
        return page(404, "No such workspace", f"There is no workspace {found[1].name!r} for you.")
    return RedirectResponse(
        url,
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class HandshakeAsked(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The workspace URL the browser was going to.
    to: str = Field(min_length=1, max_length=4096)


class HandshakeAnswer(BaseModel):
    #: Where the browser goes next: the workspace origin's exchange, with a one-time code.
    url: str


@router.post("/handshake", response_model=HandshakeAnswer)
async def handshake_with_proof(
    body: HandshakeAsked, request: Request, plane: Plane, who: Me
) -> HandshakeAnswer:
    """The handshake asked by the web app's script, which sends the session's proof."""
    if plane.codes is None or plane.addresses is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Workspaces here need no sign-in.")
    if destination(plane, body.to) is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Not a workspace of this Tidepool.")
    url = await exchange_url(plane, who, body.to, request)
    if url is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such workspace for you.")
    return HandshakeAnswer(url=url)


def destination(plane: ControlPlane, to: str) -> tuple[str, WorkspaceHost, str] | None:
    """``to``'s host, the workspace origin it names and its path, if it is one of ours."""
    if plane.addresses is None:
        return None
    found = parse_destination(to, Site(hosts=frozenset(), workspaces=plane.addresses))
    target = plane.addresses.parse_host(found.host) if found is not None and found.host else None
    if found is None or found.host is None or target is None:
        return None
    return found.host, target, found.path_and_query


async def exchange_url(plane: ControlPlane, who: Identity, to: str, request: Request) -> str | None:
    """The exchange on ``to``'s origin with a one-time code for ``who``; None if ``who``
    may not open that workspace."""
    found = destination(plane, to)
    if found is None or plane.codes is None or plane.addresses is None:
        return None
    host, target, path_and_query = found
    if not await may_open(plane, who, target.name):
        return None
    source = grant_source(session_key(request, plane))
    code = plane.codes.issue(CodeClaim(who.name, target, source))
    origin = f"{plane.addresses.scheme}://{host}"
    return f"{origin}{EXCHANGE_PATH}?code={code}&next={quote(path_and_query, safe='')}"


@router.get("/exchange")
async def exchange(request: Request, plane: Plane, code: str = "", next: str = "/") -> Response:
    """Trade a code for the grant of the workspace origin Caddy says this came to."""
    if plane.codes is None or plane.grants is None or plane.addresses is None:
        return page(404, "Not here", "Workspaces here need no sign-in of their own.")
    host_header = request.headers.get(HOST_HEADER, "")
    target = plane.addresses.parse_host(host_header)
    if VIA_HEADER not in request.headers or target is None:
        return page(400, "Not a workspace", "A sign-in code is only good on its workspace.")
    claim = plane.codes.redeem(code, target)
    if claim is None:
        return page(
            400,
            "Link expired",
            "This sign-in link was used already or is over a minute old. "
            '<a href="/">Open the workspace again</a>.',
        )
    token = plane.grants.issue(claim.host, claim.user, claim.source)
    destination = parse_destination(next, Site(hosts=frozenset()))
    path = destination.url if destination is not None and destination.host is None else "/"
    response = RedirectResponse(path, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        plane.grant_cookie,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=plane.secure_cookies,
    )
    return response


async def may_open(plane: ControlPlane, who: Identity, name: str) -> bool:
    try:
        await plane.workspaces.get(name, who=who)
    except (NotFoundError, InvalidInputError):
        return False
    return True


def session_key(request: Request, plane: ControlPlane) -> str | None:
    """The key of the browser session behind this request (None with basic auth)."""
    if plane.authenticator is None:
        return None
    principal = request_principal(request, plane, plane.authenticator)
    return principal.session.key if principal is not None and principal.session else None


def workspace_host_of(request: Request, plane: ControlPlane) -> WorkspaceHost | None:
    """The workspace origin Caddy says a request came to (None on the main host)."""
    if plane.addresses is None or VIA_HEADER not in request.headers:
        return None
    return plane.addresses.parse_host(request.headers.get(HOST_HEADER, ""))
