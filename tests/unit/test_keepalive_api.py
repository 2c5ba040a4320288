"""Keepalives, stop reasons and activity through the API: who may, what is refused, what it
shows. The admins file decides who is an admin (``admins``); sign-in is on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.activity import Evidence, Signal
from tidepool.domain.names import WorkspaceName
from tidepool.domain.workspace import Status, Workspace
from tidepool.edge import USER_HEADER
from tidepool.ports import WorkspaceStore
from tidepool.services.activity import Activity
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

SEEN = Evidence(Signal.WORK, datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "sleep 600")


@pytest.fixture
async def store() -> WorkspaceStore:
    store = memory_store()[0]
    for name, owner in (("anns", "ann"), ("bobs", "bob")):
        await store.add(
            Workspace(
                name=WorkspaceName(name),
                owner=owner,
                image="img",
                status=Status.RUNNING,
                address="10.0.0.2",
            )
        )
    return store


@pytest.fixture
async def api(store: WorkspaceStore) -> AsyncIterator[httpx.AsyncClient]:
    anns = (await store.get("anns")).id
    activity = Activity(last=SEEN, now=(SEEN,), idle_stop_at=SEEN.at + timedelta(minutes=30))
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://t.test",
        auth=True,
        admins=lambda: frozenset({"root"}),
        activity_of=lambda workspace_id: activity if workspace_id == anns else None,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def as_user(name: str) -> dict[str, str]:
    return {USER_HEADER: name}


async def test_a_keepalive_is_set_shown_and_ended(api: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    kept = await api.post(
        "/api/workspaces/anns/keepalive", json={"duration": "3h"}, headers=as_user("ann")
    )
    assert kept.status_code == 200, kept.text
    until = datetime.fromisoformat(kept.json()["keepalive_until"])
    assert before + timedelta(hours=3) <= until <= datetime.now(UTC) + timedelta(hours=3)
    shown = (await api.get("/api/workspaces/anns", headers=as_user("ann"))).json()
    assert shown["keepalive_until"] == kept.json()["keepalive_until"]
    ended = await api.delete("/api/workspaces/anns/keepalive", headers=as_user("ann"))
    assert ended.status_code == 200 and ended.json()["keepalive_until"] is None


@pytest.mark.parametrize("duration", ["", "forever", "3", "-1h", "8d", "1h1x"])
async def test_a_bad_duration_is_a_4xx_and_changes_nothing(
    api: httpx.AsyncClient, duration: str
) -> None:
    refused = await api.post(
        "/api/workspaces/anns/keepalive", json={"duration": duration}, headers=as_user("ann")
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert (await api.get("/api/workspaces/anns", headers=as_user("ann"))).json()[
        "keepalive_until"
    ] is None


async def test_someone_elses_workspace_answers_as_a_missing_one(api: httpx.AsyncClient) -> None:
    other = await api.post(
        "/api/workspaces/bobs/keepalive", json={"duration": "1h"}, headers=as_user("ann")
    )
    missing = await api.post(
        "/api/workspaces/nobody/keepalive", json={"duration": "1h"}, headers=as_user("ann")
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"].replace("bobs", "X") == missing.json()["detail"].replace(
        "nobody", "X"
    )


async def test_the_activity_says_which_signal_keeps_it_up(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/workspaces", headers=as_user("ann"))).json()["items"]
    activity = listed[0]["activity"]
    assert activity["last"] == {
        "signal": "work",
        "at": "2026-12-07T09:00:00Z",
        "detail": "sleep 600",
    }
    assert activity["idle_stop_at"] == "2026-12-07T09:30:00Z"


async def test_a_stop_records_whose_it_was(api: httpx.AsyncClient) -> None:
    own = await api.post("/api/workspaces/anns/stop", headers=as_user("ann"))
    by_admin = await api.post("/api/workspaces/bobs/stop", headers=as_user("root"))
    assert own.json()["stop_reason"] == "user"
    assert by_admin.json()["stop_reason"] == "admin"
    assert by_admin.json()["owner"] == "bob"


async def test_a_kept_list_page_never_outlives_an_activity_change(store: WorkspaceStore) -> None:
    """List pages are kept while the store does not change; activity lives in memory, so a
    change of it (the watch's version) must outdate them too."""
    anns = (await store.get("anns")).id
    seen = {"activity": Activity(last=SEEN, now=(SEEN,), idle_stop_at=None), "version": 1}
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://t.test",
        auth=True,
        activity_of=lambda workspace_id: seen["activity"] if workspace_id == anns else None,  # type: ignore[return-value]
        activity_version=lambda: seen["version"],  # type: ignore[return-value,arg-type]
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:

        async def last_signal() -> str:
            page = (await api.get("/api/workspaces", headers=as_user("ann"))).json()
            return str(page["items"][0]["activity"]["last"]["signal"])

        assert await last_signal() == "work"
        later = Evidence(Signal.SSH, SEEN.at + timedelta(minutes=1), "1 open")
        seen["activity"] = Activity(last=later, now=(later,), idle_stop_at=None)
        seen["version"] = 2
        assert await last_signal() == "ssh"
