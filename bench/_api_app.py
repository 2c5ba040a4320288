"""The API app for ``bench/api.py``: the real app over a SQLite store named by the env."""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.sql import open_store


def app() -> ASGIApp:
    store, _queue = open_store(os.environ["TIDEPOOL_BENCH_DATABASE_URL"])
    service = WorkspaceService(store, default_image="bench-image")
    return create_app(ControlPlane(service, store, "http://localhost:8080"))
