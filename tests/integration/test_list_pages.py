"""The API's kept list pages over a real SQLite file written by another process's store.

``GET /api/workspaces`` sends a page again while the store's change marker holds still; here
a second store (its own engine, as another ``tidepool serve`` or the CLI would have) writes
between requests, and every page must show what it wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.workspace import Status, Workspace
from tidepool.services.workspaces import WorkspaceService
from tidepool.store import migrate
from tidepool.store.sql import SqlWorkspaceStore, open_store


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqlWorkspaceStore, SqlWorkspaceStore]]:
    url = f"sqlite:///{tmp_path / 'tidepool.db'}"
    migrate.upgrade(url)
    (served, served_queue), (other, other_queue) = open_store(url), open_store(url)
    yield served, other
    for closer in (served_queue, served, other_queue, other):
        await closer.aclose()


async def test_every_page_shows_what_another_process_wrote(
    stores: tuple[SqlWorkspaceStore, SqlWorkspaceStore],
) -> None:
    served, other = stores
    plane = ControlPlane(WorkspaceService(served, default_image="img"), served, "http://t.test")
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        assert (await api.get("/api/workspaces")).json()["total"] == 0
        for i in range(3):
            await other.add(Workspace(name=f"ws{i}", owner="local", image="img"))
            listed = (await api.get("/api/workspaces")).json()
            assert [w["name"] for w in listed["items"]] == [f"ws{n}" for n in range(i + 1)]
            assert listed == (await api.get("/api/workspaces")).json()
        workspace = await other.get("ws1")
        await other.save(workspace.move_to(Status.CREATING))
        statuses = [w["status"] for w in (await api.get("/api/workspaces")).json()["items"]]
        assert statuses == ["pending", "creating", "pending"]
