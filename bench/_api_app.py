"""The API app for ``bench/api.py``: the real app over a SQLite store named by the env.

``TIDEPOOL_BENCH_KEEP_PAGES=0`` turns the store's change marker off, so every list request
reads and renders its page (as the first request after a write does). On PostgreSQL the
store's first ``change_marker`` starts its listener, as ``serve`` does at start-up.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.database import Database
from tidepool.store.sql import SqlWorkspaceStore


class UnmarkedStore(SqlWorkspaceStore):
    """The SQL store with no change marker: nothing read is ever reused."""

    async def change_marker(self) -> int | None:
        return None


def app() -> ASGIApp:
    database = Database(os.environ["TIDEPOOL_BENCH_DATABASE_URL"])
    keep = os.environ.get("TIDEPOOL_BENCH_KEEP_PAGES", "1") != "0"
    store = SqlWorkspaceStore(database) if keep else UnmarkedStore(database)
    service = WorkspaceService(store, default_image="bench-image")
    return create_app(ControlPlane(service, store, "http://localhost:8080"))
