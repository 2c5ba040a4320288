"""``create_app(plane)``: the FastAPI application, built on demand, never at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from tidepool import __version__
from tidepool.api import problems
from tidepool.api.deps import ControlPlane
from tidepool.api.routers import health, me, workspaces
from tidepool.web import STATIC_DIR

MAX_BODY_BYTES = 16 * 1024


def create_app(plane: ControlPlane) -> FastAPI:
    app = FastAPI(
        title="Tidepool",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.control_plane = plane
    problems.install(app)
    app.include_router(workspaces.router, prefix="/api")
    app.include_router(health.router, prefix="/api")
    app.include_router(me.router, prefix="/api")
    app.include_router(workspaces.events_router, prefix="/api")
    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="web")

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return problems.problem(
                413, "Body too large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
            )
        return await call_next(request)

    return app
