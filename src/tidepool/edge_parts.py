"""The front door's and sign-in's parts, built from settings: Caddy's admin, options,
process and route table, and what checks sign-ins, sessions, tokens and grants. Part of the
composition root: ``bootstrap`` re-exports each, and is where callers get them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from tidepool import sign_in_records
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.front_door import CaddyFrontDoor
from tidepool.adapters.caddy.process import CaddyProcess
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.adapters.caddy.sessions import CaddySessionMap, CaddyTokenMap
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.grants import GrantStore
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionCache
from tidepool.auth.token_cache import TokenCache
from tidepool.ports import FrontDoor, RouteTable
from tidepool.settings import Settings

#: What a browser on the host itself may call this installation.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def caddy_admin(settings: Settings) -> CaddyAdmin:
    return CaddyAdmin.over_unix_socket(settings.caddy_admin_socket)


def build_route_table(settings: Settings) -> RouteTable:
    return CaddyRouteTable(caddy_options(settings).routes_dir)


def caddy_options(settings: Settings) -> CaddyOptions:
    """Caddy's options, users included (read now: they change while Tidepool runs)."""
    everyone = sign_in_records.users(settings).load() if settings.auth != "none" else []
    users = everyone if settings.auth == "basic" else None
    addresses = settings.workspace_addresses
    return CaddyOptions(
        users=tuple((u.name, u.password_hash) for u in users) if users is not None else None,
        forward_auth=settings.auth == "forward_auth",
        admins=tuple(u.name for u in everyone if u.admin),
        admin_socket=settings.caddy_admin_socket,
        storage_dir=settings.caddy_dir / "storage",
        listen=f"{settings.listen_host}:{settings.http_port}",
        api_socket=settings.api_socket,
        tls=settings.tls,
        domain=settings.domain,
        https_listen=f"{settings.listen_host}:{settings.https_port}",
        workspace_domain=addresses.domain,
        workspace_scheme=addresses.scheme,
        origin_port=addresses.port_suffix,
        serve_paths=addresses.paths,
        hosts=served_hosts(settings),
    )


def served_hosts(settings: Settings) -> tuple[str, ...]:
    """The host names users open: the public URL's, the domain's and loopback's."""
    named = {urlsplit(settings.workspace_base_url).hostname or "", settings.domain}
    return tuple(sorted(name for name in named | LOOPBACK_NAMES if name))


def authenticator(settings: Settings) -> Authenticator | None:
    """What checks sign-ins, sessions and tokens, when the control plane does (forward_auth)."""
    if settings.auth != "forward_auth":
        return None
    return Authenticator(
        users=sign_in_records.users(settings),
        sessions=sign_in_records.sessions(settings),
        tokens=sign_in_records.tokens(settings),
        limiter=SignInLimiter(),
    )


def grant_store(settings: Settings) -> GrantStore | None:
    """Workspace origins' grants, when there is a sign-in to hand over to them."""
    if settings.auth == "none" or not settings.workspace_addresses.origins:
        return None
    return GrantStore(
        settings.grants_dir,
        max_age_seconds=settings.session_hours * 3600,
        routes_dir=caddy_options(settings).routes_dir,
    )


def session_cache(admin: CaddyAdmin) -> SessionCache:
    """Caddy's map of live sessions (``forward_auth``), taught each session once."""
    return CaddySessionMap(admin)


def token_cache(admin: CaddyAdmin) -> TokenCache:
    """Caddy's map of API tokens the control plane vouched for (``forward_auth``)."""
    return CaddyTokenMap(admin)


def caddy_process(settings: Settings) -> CaddyProcess:
    return CaddyProcess(caddy_options(settings), settings.caddy_dir)


@contextlib.asynccontextmanager
async def opened_route_table(settings: Settings) -> AsyncIterator[RouteTable]:
    """Caddy's route table, closed when the block ends."""
    routes = build_route_table(settings)
    try:
        yield routes
    finally:
        await routes.aclose()


def front_door(settings: Settings) -> FrontDoor:
    """Caddy as a process to start, stop and supervise, with today's config (made again when
    the users change: their file, or their row where several serve share PostgreSQL)."""
    users = sign_in_records.users(settings)
    return CaddyFrontDoor(
        caddy_process(settings),
        caddy_admin(settings),
        lambda: caddy_options(settings),
        inputs=(settings.users_file,),
        version=users.version if sign_in_records.shared(settings) else None,
    )
