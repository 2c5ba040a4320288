"""The API through an ASGI transport, with the in-memory store: shapes, errors, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.api.routers.workspaces import PageKey, RenderedPages
from tidepool.api.schemas import WorkspacePublic, WorkspacesPublic
from tidepool.domain.identity import Identity
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.ports import Page, WorkspaceStore
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store


def user(name: str) -> Identity:
    return Identity(name, admin=False)


@pytest.fixture
def store() -> WorkspaceStore:
    return memory_store()[0]


@pytest.fixture
async def api(store: WorkspaceStore) -> AsyncIterator[httpx.AsyncClient]:
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"), store, "http://tidepool.test", event_poll=0.01
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body


async def test_create_is_accepted_pending_with_a_location(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/workspaces", json={"name": "dev1"})
    assert response.status_code == 202
    assert response.headers["location"] == "/api/workspaces/dev1"
    body = response.json()
    assert body["status"] == "pending" and body["desired"] == "running"
    assert body["url"] == "http://tidepool.test/workspace/dev1/"
    assert body["image"] == "img"


async def test_list_is_paginated_and_filtered(
    api: httpx.AsyncClient, store: WorkspaceStore
) -> None:
    for i in range(5):
        await api.post("/api/workspaces", json={"name": f"ws{i}"})
    first = (await api.get("/api/workspaces", params={"limit": 2})).json()
    assert first["total"] == 5 and [w["name"] for w in first["items"]] == ["ws0", "ws1"]
    rest = (await api.get("/api/workspaces", params={"limit": 2, "offset": 4})).json()
    assert [w["name"] for w in rest["items"]] == ["ws4"]
    workspace = await store.get("ws3")
    await store.save(workspace.move_to(Status.CREATING))
    creating = (await api.get("/api/workspaces", params={"status": "creating"})).json()
    assert [w["name"] for w in creating["items"]] == ["ws3"]


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"name": "Bad_Name"}, ("name", "DNS-safe")),
        ({"name": "ok", "extra": 1}, ("extra", "not a known field")),
        ({"name": 5}, ("name",)),
        ({}, ("name",)),
        ({"name": "x" * 64}, ("name",)),
        # A user picks a template; an image is the admin's to name (in a template).
        ({"name": "ok", "image": "../../etc"}, ("image",)),
        ({"name": "ok", "template": "../../etc"}, ("template",)),
        ({"name": "ok", "cpus": "many"}, ("cpus",)),
    ],
)
async def test_bad_bodies_are_422_problems_and_change_nothing(
    api: httpx.AsyncClient, body: dict[str, object], fragments: tuple[str, ...]
) -> None:
    assert_problem(await api.post("/api/workspaces", json=body), 422, *fragments)
    assert (await api.get("/api/workspaces")).json()["total"] == 0


async def test_reserved_names_are_refused(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post("/api/workspaces", json={"name": "api"}), 400, "reserved")


async def test_bad_query_parameters_are_422(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/api/workspaces", params={"limit": "0"}), 422, "limit")
    assert_problem(await api.get("/api/workspaces", params={"status": "sleepy"}), 422, "status")
    assert_problem(await api.get("/api/workspaces", params={"offset": "-1"}), 422, "offset")


async def test_an_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/workspaces",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413, "limited")


async def test_duplicate_is_409_and_missing_is_404(api: httpx.AsyncClient) -> None:
    await api.post("/api/workspaces", json={"name": "dup"})
    assert_problem(await api.post("/api/workspaces", json={"name": "dup"}), 409, "dup")
    assert_problem(await api.get("/api/workspaces/nobody"), 404)
    assert_problem(await api.post("/api/workspaces/nobody/start"), 404)
    assert_problem(await api.get("/api/workspaces/BAD"), 400, "Invalid workspace name")


async def test_actions_the_status_forbids_are_409(api: httpx.AsyncClient) -> None:
    await api.post("/api/workspaces", json={"name": "w"})
    assert_problem(await api.post("/api/workspaces/w/start"), 409, "start", "pending")
    stopped = await api.post("/api/workspaces/w/stop")
    assert stopped.status_code == 202 and stopped.json()["desired"] == "stopped"
    first = await api.delete("/api/workspaces/w")
    second = await api.delete("/api/workspaces/w")
    assert first.status_code == second.status_code == 202
    assert second.json()["desired"] == "deleted"


async def test_events_stream_status_changes_and_phases(
    api: httpx.AsyncClient, store: WorkspaceStore
) -> None:
    await api.post("/api/workspaces", json={"name": "ev"})
    workspace = await store.get("ev")

    async def progress() -> None:
        await asyncio.sleep(0.05)
        moved = await store.save(
            workspace.move_to(Status.CREATING), event=("status", "creating", "")
        )
        await store.add_event(moved.id, "phase", "instance_created", "0.10s")
        moved = await store.save(moved.move_to(Status.DELETING), event=("status", "deleting", ""))
        await store.save(moved.move_to(Status.DELETED), event=("status", "deleted", ""))

    task = asyncio.create_task(progress())
    seen = []
    async with api.stream("GET", "/api/workspaces/ev/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                seen.append((event["kind"], event["value"]))
    await task
    assert seen == [
        ("status", "pending"),
        ("status", "creating"),
        ("phase", "instance_created"),
        ("status", "deleting"),
        ("status", "deleted"),
    ]


async def test_health_and_openapi(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/health")).json() == {"status": "ok", "database": "ok"}
    spec = (await api.get("/api/openapi.json")).json()
    assert "/api/workspaces/{name}/events" in spec["paths"]
    assert (await api.get("/api/docs")).status_code == 200


@pytest.fixture
async def guarded(store: WorkspaceStore) -> AsyncIterator[httpx.AsyncClient]:
    """The API as Caddy reaches it with basic auth on: ann and bob, root is an admin."""
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tidepool.test",
        event_poll=0.01,
        auth=True,
        admins=lambda: frozenset({"root"}),
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def as_user(name: str) -> dict[str, str]:
    return {"X-Tidepool-User": name}


async def test_each_user_sees_and_acts_on_only_their_own(guarded: httpx.AsyncClient) -> None:
    created = await guarded.post("/api/workspaces", json={"name": "anns"}, headers=as_user("ann"))
    assert created.json()["owner"] == "ann"
    await guarded.post("/api/workspaces", json={"name": "bobs"}, headers=as_user("bob"))
    listed = (await guarded.get("/api/workspaces", headers=as_user("bob"))).json()
    assert [w["name"] for w in listed["items"]] == ["bobs"] and listed["total"] == 1
    for method, path in [
        ("GET", "/api/workspaces/anns"),
        ("POST", "/api/workspaces/anns/stop"),
        ("DELETE", "/api/workspaces/anns"),
        ("GET", "/api/workspaces/anns/events"),
    ]:
        response = await guarded.request(method, path, headers=as_user("bob"))
        assert_problem(response, 404)
        missing = await guarded.request(
            method, path.replace("anns", "nobody"), headers=as_user("bob")
        )
        assert response.text.replace("anns", "NAME") == missing.text.replace("nobody", "NAME")
    assert (await guarded.get("/api/workspaces/anns", headers=as_user("ann"))).json()[
        "desired"
    ] == "running", "bob's attempts changed nothing"
    every = (await guarded.get("/api/workspaces", headers=as_user("root"))).json()
    assert every["total"] == 2
    me = (await guarded.get("/api/me", headers=as_user("root"))).json()
    every_scope = ["admin", "metrics", "read", "ssh", "workspaces"]
    assert me == {"name": "root", "admin": True, "scopes": every_scope}


async def test_with_auth_on_an_empty_user_is_refused(guarded: httpx.AsyncClient) -> None:
    assert_problem(await guarded.get("/api/workspaces", headers=as_user("")), 401)


async def test_the_live_feed_carries_only_what_the_user_may_see(store: WorkspaceStore) -> None:
    """The stream behind /api/events (the endpoint itself never ends, so it is driven here)."""
    from tidepool.api.sse import all_events_stream

    service = WorkspaceService(store, default_image="img")
    await service.create("before", who=user("bob"))  # history: not replayed, the list has it

    async def visible(workspace_id: str) -> str | None:
        workspace = await store.get_by_id(workspace_id)
        return workspace.name if workspace.owner == "bob" else None

    stream = all_events_stream(store, visible, 0, poll=0.01)
    assert await anext(stream) == "retry: 1000\n\n"
    await service.create("anns", who=user("ann"))
    await service.create("bobs", who=user("bob"))
    event = json.loads((await anext(stream)).split("data: ", 1)[1])
    assert (event["name"], event["value"]) == ("bobs", "pending")
    await stream.aclose()


async def test_a_listed_page_follows_every_write(
    api: httpx.AsyncClient, store: WorkspaceStore
) -> None:
    """The same page asked again after a write outside the API shows the write."""
    await api.post("/api/workspaces", json={"name": "ws0"})
    first = (await api.get("/api/workspaces")).json()
    assert first == (await api.get("/api/workspaces")).json()
    assert first["items"][0]["status"] == "pending"
    workspace = await store.get("ws0")
    await store.save(workspace.move_to(Status.CREATING))
    assert (await api.get("/api/workspaces")).json()["items"][0]["status"] == "creating"
    await store.add(Workspace(name="ws1", owner="local", image="img"))
    assert (await api.get("/api/workspaces")).json()["total"] == 2


async def test_each_user_gets_their_own_page_of_the_same_request(
    guarded: httpx.AsyncClient,
) -> None:
    await guarded.post("/api/workspaces", json={"name": "anns"}, headers=as_user("ann"))
    for user, names in [("ann", ["anns"]), ("bob", []), ("ann", ["anns"]), ("root", ["anns"])]:
        listed = (await guarded.get("/api/workspaces", headers=as_user(user))).json()
        assert [w["name"] for w in listed["items"]] == names, user


def test_a_rendered_page_is_kept_only_for_its_marker() -> None:
    pages = RenderedPages()
    key: PageKey = (None, None, 50, 0, "http://tidepool.test")
    pages.put(key, 7, b"page at 7")
    assert pages.get(key, 7) == b"page at 7"
    assert pages.get(key, 8) is None, "kept past a write"
    assert pages.get((Status.RUNNING, None, 50, 0, "http://tidepool.test"), 7) is None
    pages.put(key, None, b"unmarked")
    assert pages.get(key, None) is None, "kept without a marker"
    for offset in range(RenderedPages.SIZE + 1):
        pages.put((None, None, 50, offset, "u"), 9, b"x")
    assert 0 < len(pages) <= RenderedPages.SIZE


def test_a_rendered_page_is_byte_for_byte_the_models_json() -> None:
    """``WorkspacesPublic.render`` skips the models for speed; it must not change the JSON."""
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    workspaces = [
        Workspace(name="plain", owner="ann", image="img", created_at=at, updated_at=at),
        Workspace(
            name="odd",
            owner="bøb",
            image="img/x",
            status=Status.FAILED,
            desired=Desired.STOPPED,
            error='quote " and ünïcode',
            address="10.0.0.7",
            created_at=at.replace(microsecond=123456),
            updated_at=at.replace(microsecond=1),
        ),
    ]
    page = Page(items=workspaces, total=9)
    model = WorkspacesPublic(
        items=[WorkspacePublic.of(w, "https://{}.t.test/".format) for w in workspaces],
        total=9,
        limit=2,
        offset=3,
    )
    rendered = WorkspacesPublic.render(page, 2, 3, "https://{}.t.test/".format)
    assert rendered == model.model_dump_json().encode()
    assert json.loads(rendered)["items"][1]["created_at"] == "2030-01-02T03:04:05.123456Z"
