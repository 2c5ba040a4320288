"""The composition root: the one place that reads settings and builds adapters.

Tests call the same functions with their own settings, or hand fakes straight to the services.
Runtimes are found by name through the ``tidepool.runtimes`` entry points, so a third party can
add one; an unknown name lists the installed ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import entry_points

from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.process import CaddyProcess
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile
from tidepool.errors import InvalidInputError
from tidepool.ports import RouteTable, Runtime
from tidepool.services.instances import InstanceDefaults
from tidepool.settings import Settings


def incus_client(settings: Settings) -> IncusClient:
    return IncusClient(unix_socket_client(settings.incus_socket))


def installed_runtimes() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="tidepool.runtimes"))


def build_runtime(settings: Settings) -> Runtime:
    """The runtime named by ``settings.runtime``."""
    if settings.runtime not in installed_runtimes():
        raise InvalidInputError(
            f"Unknown runtime {settings.runtime!r}; installed: {', '.join(installed_runtimes())}."
        )
    if settings.runtime == "incus":
        return IncusRuntime(incus_client(settings), instance_type=settings.instance_type)
    from tidepool.adapters.tart.runtime import TartRuntime  # the settings allow no third

    return TartRuntime(state_dir=settings.data_dir / "tart")


def caddy_admin(settings: Settings) -> CaddyAdmin:
    return CaddyAdmin.over_unix_socket(settings.caddy_admin_socket)


def build_route_table(settings: Settings) -> RouteTable:
    return CaddyRouteTable(caddy_options(settings).routes_dir)


def caddy_options(settings: Settings) -> CaddyOptions:
    """Caddy's options, users included (read now: they change while Tidepool runs)."""
    everyone = UserFile(settings.users_file).load() if settings.auth != "none" else []
    users = everyone if settings.auth == "basic" else None
    return CaddyOptions(
        users=tuple((u.name, u.password_hash) for u in users) if users is not None else None,
        forward_auth=settings.auth == "forward_auth",
        admins=tuple(u.name for u in everyone if u.admin),
        admin_socket=settings.caddy_admin_socket,
        storage_dir=settings.caddy_dir / "storage",
        listen=f"{settings.http_host}:{settings.http_port}",
        api_socket=settings.api_socket,
        tls=settings.tls,
        domain=settings.domain,
        https_listen=f"{settings.http_host}:{settings.https_port}",
        preview_domain=settings.preview_domain,
    )


def authenticator(settings: Settings) -> Authenticator | None:
    """What checks sign-ins, sessions and tokens, when the control plane does (forward_auth)."""
    if settings.auth != "forward_auth":
        return None
    return Authenticator(
        users=UserFile(settings.users_file),
        sessions=SessionStore(settings.sessions_file, settings.session_hours * 3600),
        tokens=TokenStore(settings.tokens_file),
        limiter=SignInLimiter(),
    )


def caddy_process(settings: Settings) -> CaddyProcess:
    return CaddyProcess(caddy_options(settings), settings.caddy_dir)


def instance_defaults(settings: Settings, image: str | None = None) -> InstanceDefaults:
    return InstanceDefaults(
        image=image or settings.image_alias,
        cpus=settings.workspace_cpus,
        memory_mib=settings.workspace_memory_mib,
    )


@contextlib.asynccontextmanager
async def opened_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The configured runtime, closed when the block ends."""
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.aclose()


@contextlib.asynccontextmanager
async def opened_route_table(settings: Settings) -> AsyncIterator[RouteTable]:
    """Caddy's route table, closed when the block ends."""
    routes = build_route_table(settings)
    try:
        yield routes
    finally:
        await routes.aclose()
