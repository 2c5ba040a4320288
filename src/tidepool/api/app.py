"""``create_app(plane)``: the FastAPI application, built on demand, never at import time."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidepool import __version__
from tidepool.api import problems
from tidepool.api.deps import ControlPlane
from tidepool.api.origins import SameOriginWrites
from tidepool.api.routers import (
    audit,
    auth,
    handshake,
    health,
    homes,
    idle_timeout,
    keepalive,
    keys,
    me,
    metrics,
    move,
    personal,
    pool,
    ssh,
    templates,
    tokens,
    workspaces,
)
from tidepool.api.timing import Timed
from tidepool.domain.repositories import BRANCH_RULE, MAX_URL_LENGTH, REPOSITORY_URL_RULE
from tidepool.domain.templates import MIN_DISK_GIB, MIN_MEMORY_MIB, Catalog
from tidepool.edge import VIA_HEADER
from tidepool.web import STATIC_DIR

MAX_BODY_BYTES = 16 * 1024


class TidepoolApi(FastAPI):
    """FastAPI with the problem bodies in its schema (see ``problems.declared``), and this
    platform's templates and maximums in what a create may say."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = problems.add_problem_schemas(super().openapi())
            plane: ControlPlane = self.state.control_plane
            self.openapi_schema = state_the_catalog(schema, plane.workspaces.catalog)
        return self.openapi_schema


def state_the_catalog(schema: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """``WorkspaceCreate`` as this platform takes it: one of its templates, sizes between
    what a workspace needs and the admin's maximums (the service says the same in a 400)."""
    fields = schema["components"]["schemas"]["WorkspaceCreate"]["properties"]
    names = [template.name for template in catalog.templates]
    bounds = {
        "cpus": (1, catalog.maximums.cpus),
        "memory_mib": (MIN_MEMORY_MIB, catalog.maximums.memory_mib),
        "disk_gib": (MIN_DISK_GIB, catalog.maximums.disk_gib),
    }
    for name, (least, most) in bounds.items():
        fields[name]["anyOf"] = [
            {"type": "integer", "minimum": least, "maximum": most},
            {"type": "null"},
        ]
    fields["template"]["anyOf"] = [{"type": "string", "enum": names}, {"type": "null"}]
    # What ``domain.repositories`` accepts, stated a little narrower: http(s), a host, a port
    # of up to four digits, a path that names something; a branch git takes.
    url = {"type": "string", "pattern": REPOSITORY_URL_RULE, "maxLength": MAX_URL_LENGTH}
    fields["repository"]["anyOf"] = [url, {"type": "null"}]
    branch = {"type": "string", "pattern": BRANCH_RULE, "maxLength": 200}
    fields["branch"]["anyOf"] = [branch, {"type": "null"}]
    create = schema["components"]["schemas"]["WorkspaceCreate"]
    # A branch is of a repository: the create's own, or its template's (not stated here).
    create["dependentSchemas"] = {
        "branch": {"required": ["repository"], "properties": {"repository": url}}
    }
    return schema


def create_app(plane: ControlPlane) -> ASGIApp:
    app = TidepoolApi(
        title="Tidepool",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.control_plane = plane
    problems.install(app)
    routers = (
        workspaces.router,
        health.router,
        me.router,
        auth.router,
        handshake.router,
        workspaces.events_router,
        tokens.router,
        audit.router,
        templates.router,
        pool.router,
        keys.router,
        keepalive.router,
        move.router,
        idle_timeout.router,
        personal.router,
        metrics.router,
        ssh.router,
        homes.router,
    )
    for router in routers:  # any request may bring a body over the limit (``BodyLimit``)
        app.include_router(router, prefix="/api", responses=problems.declared(413))
    web = StaticFiles(directory=STATIC_DIR, html=True)
    app.mount("/app", SignInFirst(web, plane), name="web")

    checked = SameOriginWrites(BodyLimit(app))
    return Timed(checked, plane.metrics) if plane.metrics is not None else checked


class SignInFirst:
    """With ``forward_auth``, the web app's pages are for signed-in people: anyone else who
    came through Caddy is sent to the sign-in page (and back afterwards). The sign-in page and
    the stylesheet it shares are open to all."""

    OPEN = (
        "/login",
        "/login/",
        "/login/index.html",
        "/login/login.js",
        "/app.css",
        "/proof.js",
        # Opening a workspace asks for sign-in itself, keeping the address it was going to.
        "/open",
        "/open/",
        "/open/index.html",
        "/open/open.js",
    )

    def __init__(self, app: ASGIApp, plane: ControlPlane) -> None:
        self.app = app
        self.plane = plane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = self.plane.authenticator
        if scope["type"] == "http" and auth is not None:
            request = Request(scope)
            inside = request.url.path.removeprefix("/app")
            if (
                inside not in self.OPEN
                and VIA_HEADER in request.headers
                and auth.identify(
                    request.cookies.get(self.plane.session_cookie),
                    request.headers.get("authorization"),
                )
                is None
            ):
                back = quote(request.url.path, safe="/")
                await RedirectResponse(f"/app/login/?next={back}", 302)(scope, receive, send)
                return
        await self.app(scope, receive, _revalidated(send))


def _revalidated(send: Send) -> Send:
    """The web app's files with ``Cache-Control: no-cache``: a browser asks again each time
    (a 304 when nothing changed), so a page kept from before a sign-out is never shown
    without the sign-in check, nor an old script after an upgrade."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            message = {**message, "headers": [*headers, (b"cache-control", b"no-cache")]}
        await send(message)

    return sending


class BodyLimit:
    """Refuse request bodies over ``MAX_BODY_BYTES`` (413) before the app reads them.

    A plain ASGI wrapper: Starlette's ``BaseHTTPMiddleware`` costs a task and a queue per
    request, which showed up as a third of the API's throughput.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                response = problems.problem(
                    413, "Body too large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
