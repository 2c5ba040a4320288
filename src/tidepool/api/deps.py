"""What route handlers get injected: the control plane's services."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from tidepool.api.clients import client_address
from tidepool.api.schemas import ActivityOf, TemplateImage, no_activity, no_template_image
from tidepool.auth.authenticator import Authenticator, Principal
from tidepool.auth.grants import GrantStore
from tidepool.auth.handshake import CodeBook
from tidepool.auth.idle_choices import IdleChoices
from tidepool.auth.personal import PersonalFiles
from tidepool.auth.session_proof import PROOF_PARAMETER, choose_session, cookie_values
from tidepool.auth.sessions import CSRF_HEADER, SessionCache
from tidepool.auth.ssh_keys import SshKeyStore
from tidepool.auth.token_cache import TokenCache
from tidepool.domain.audit import AuditEntry
from tidepool.domain.identity import EVERY_SCOPE, HOST, LOCAL_OWNER, Identity
from tidepool.domain.origins import WorkspaceAddresses
from tidepool.edge import GRANT_COOKIE, SESSION_COOKIE, USER_HEADER, VIA_HEADER, cookie_name
from tidepool.ports import AuditTrail, WorkspaceStore
from tidepool.services.homes import HomeService
from tidepool.services.metrics import PlatformMetrics
from tidepool.services.moving import Mover
from tidepool.services.pool import PoolStatus
from tidepool.services.workspaces import WorkspaceService

#: Methods that change nothing: a cookie session needs no CSRF token for these.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """Everything the API needs, built once by ``bootstrap`` (or by a test with fakes)."""

    workspaces: WorkspaceService
    store: WorkspaceStore
    public_url: str
    #: Seconds between reads of the event log while a client follows it.
    event_poll: float = 0.25
    #: True when Caddy authenticates users (``auth = "basic"``).
    auth: bool = False
    #: The current admins (read when needed: users change while Tidepool runs).
    admins: Callable[[], frozenset[str]] = frozenset
    #: Set when the control plane checks credentials itself (``auth = "forward_auth"``).
    authenticator: Authenticator | None = None
    #: Caddy's session map, taught each session on its first request to a workspace.
    session_cache: SessionCache | None = None
    #: Caddy's token map, taught each API token the first time it opens a workspace.
    token_cache: TokenCache | None = None
    #: Session cookies get ``Secure`` (browsers send them over HTTPS only) when TLS is on.
    secure_cookies: bool = False
    #: A session cookie counts only with its proof: a workspace's page could have planted it
    #: (``session_proof.cookies_can_be_planted``).
    cookies_need_proof: bool = False
    #: How workspaces are named in URLs (their origins, or paths under the main host).
    addresses: WorkspaceAddresses | None = None
    #: Workspace origins' credentials and the one-time codes that lead to them; None when no
    #: sign-in is on (nothing to hand over) or workspaces are served under paths.
    grants: GrantStore | None = None
    codes: CodeBook | None = None
    #: Deletes the grants that lost their reason and cuts their connections (sign-out).
    revoke_grants: Callable[[], Awaitable[object]] | None = None

    #: Where sign-ins, token changes and workspace actions are recorded (None: nowhere).
    audit: AuditTrail | None = None
    #: Users' SSH public keys (None: this control plane keeps none, ``/api/keys`` is 404).
    ssh_keys: SshKeyStore | None = None
    #: The warm pools as their keeper last saw them (none kept: an empty list).
    pool_status: Callable[[], list[PoolStatus]] = list
    #: A running workspace's activity, by its id (``ActivityWatch.activity``).
    activity_of: ActivityOf = no_activity
    #: Changes whenever some workspace's activity does (kept list pages are sent again only
    #: while it stays the same).
    activity_version: Callable[[], int] = int
    #: Moves stopped workspaces between cluster members (None: this plane moves none).
    mover: Mover | None = None
    #: Users' own idle timeouts (None: this control plane keeps none, and says so).
    idle_choices: IdleChoices | None = None
    #: Users' dotfiles and git credentials (None: this control plane keeps none).
    personal: PersonalFiles | None = None
    #: The image each template names now (what makes a workspace's image outdated).
    template_image: TemplateImage = no_template_image
    #: Snapshots, restore, rebuild, fork and undelete (None: this control plane keeps none).
    homes: HomeService | None = None
    #: The platform's metrics (None: ``/api/metrics`` is 404).
    metrics: PlatformMetrics | None = None

    async def record(self, entry: AuditEntry) -> None:
        """Add ``entry`` to the audit log, if this installation keeps one."""
        if self.audit is not None:
            await self.audit.record(entry)

    @property
    def session_cookie(self) -> str:
        return cookie_name(SESSION_COOKIE, self.secure_cookies)

    @property
    def grant_cookie(self) -> str:
        return cookie_name(GRANT_COOKIE, self.secure_cookies)

    def ide_url(self, name: str) -> str:
        """Where ``name``'s IDE opens in a browser."""
        if self.addresses is None:
            return f"{self.public_url}/workspace/{name}/"
        return self.addresses.ide_url(name)


async def get_control_plane(request: Request) -> ControlPlane:
    """Async on purpose, as are the other dependencies: FastAPI runs a plain function in a
    worker thread, and that hop cost a quarter of the API's throughput."""
    plane: ControlPlane = request.app.state.control_plane
    return plane


Plane = Annotated[ControlPlane, Depends(get_control_plane)]


async def get_identity(request: Request, plane: Plane) -> Identity:
    """Caddy always sets ``X-Tidepool-User`` (replacing anything a client sent); a request
    without it came straight through the API's unix socket, which only root on the host can
    open: the host acts as admin, or as the user it names there.
    """
    if plane.authenticator is not None:
        return checked_identity(request, plane, plane.authenticator)
    header = request.headers.get(USER_HEADER)
    if header is None:
        return HOST
    if not plane.auth:  # no sign-in: everyone is the host, but the log says from where
        return replace(HOST, address=client_address(request))
    if not header:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in required.")
    return Identity.acting(
        header, user_is_admin=header in plane.admins(), address=client_address(request)
    )


def checked_identity(request: Request, plane: ControlPlane, auth: Authenticator) -> Identity:
    """``forward_auth``: a session cookie or an API token says who this is. Caddy marks all it
    forwards; an unmarked request came through the unix socket (root on the host), which
    may still name a user, as with ``basic``. A cookie session changes nothing without the
    session's CSRF token in a header, which another site's page cannot read or send."""
    principal = request_principal(request, plane, auth)
    if principal is None:
        if VIA_HEADER in request.headers:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in required.")
        name = request.headers.get(USER_HEADER) or LOCAL_OWNER
        if name == LOCAL_OWNER:
            return HOST
        return Identity.acting(
            name, user_is_admin=name in plane.admins(), address=client_address(request)
        )
    session = principal.session
    if session is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Missing or wrong {CSRF_HEADER} header: reload the page and try again.",
            )
    return principal_identity(principal, plane, client_address(request))


def request_principal(
    request: Request, plane: ControlPlane, auth: Authenticator
) -> Principal | None:
    """Who a request's credentials stand for: its bearer token alone if it has one, else the
    browser's own session among those its cookies name (``session_proof``: a workspace's
    page may have planted another)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return auth.identify(None, authorization)
    tokens = cookie_values(request.headers.get("cookie", ""), plane.session_cookie)
    principals = [p for t in dict.fromkeys(tokens) if (p := auth.identify(t, None)) is not None]
    proof = request.headers.get(CSRF_HEADER)
    if proof is None and request.method in SAFE_METHODS:
        proof = request.query_params.get(PROOF_PARAMETER)
    return choose_session(principals, proof, proof_required=plane.cookies_need_proof)


def principal_identity(principal: Principal, plane: ControlPlane, address: str) -> Identity:
    """The identity of a checked credential: a session holds every scope of its user, a
    token only its own (``Identity.acting`` keeps admin power to admins' admin tokens)."""
    token = principal.token
    return Identity.acting(
        principal.user,
        user_is_admin=principal.user in plane.admins(),
        scopes=token.effective_scopes if token is not None else EVERY_SCOPE,
        workspaces=token.workspaces if token is not None else None,
        token_id=token.id if token is not None else "",
        csrf_token=principal.session.csrf_token if principal.session is not None else "",
        address=address,
    )


Me = Annotated[Identity, Depends(get_identity)]

#: Checks again the credential a request came with: the identity it stands for now, or None
#: once it no longer stands for anyone (signed out, revoked, expired, user removed).
Recheck = Callable[[], Awaitable[Identity | None]]


async def get_recheck(request: Request, plane: Plane) -> Recheck:
    """For a long-lived answer (an event stream): the request's own credentials, checked
    again on demand exactly as they were when it arrived."""

    async def again() -> Identity | None:
        try:
            return await get_identity(request, plane)
        except HTTPException:
            return None

    return again


Again = Annotated[Recheck, Depends(get_recheck)]
