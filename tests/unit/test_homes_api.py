"""Snapshots, restore, rebuild, fork and undelete through the API: the answers a user gets,
what another user gets (a missing workspace), and bad input refused with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import pytest

from support.homes_plane import ANN, NEWER, Plane
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.home import home_of
from tidepool.domain.identity import Identity, Scope
from tidepool.domain.workspace import Action
from tidepool.edge import USER_HEADER
from tidepool.errors import ForbiddenError
from tidepool.services.homes import HomeService


def as_user(name: str) -> dict[str, str]:
    return {USER_HEADER: name}


@pytest.fixture
async def plane() -> Plane:
    plane = Plane()
    await plane.running("anns")
    return plane


@pytest.fixture
async def api(plane: Plane) -> AsyncIterator[httpx.AsyncClient]:
    control = ControlPlane(
        plane.workspaces,
        plane.store,
        "http://t.test",
        auth=True,
        admins=lambda: frozenset({"root"}),
        homes=plane.homes,
        template_image=plane.catalog.image_of,
    )
    transport = httpx.ASGITransport(app=create_app(control))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_snapshots_are_taken_listed_and_deleted_by_their_owner(
    api: httpx.AsyncClient,
) -> None:
    made = await api.post(
        "/api/workspaces/anns/snapshots", json={"name": "before"}, headers=as_user("ann")
    )
    assert made.status_code == 201 and made.json()["name"] == "before"
    assert made.json()["automatic"] is False
    assert made.json()["kept_until"] is None, "a user's snapshot is never pruned"
    listed = await api.get("/api/workspaces/anns/snapshots", headers=as_user("ann"))
    assert [s["name"] for s in listed.json()["data"]] == ["before"]
    gone = await api.delete("/api/workspaces/anns/snapshots/before", headers=as_user("ann"))
    assert gone.status_code == 204
    missing = await api.delete("/api/workspaces/anns/snapshots/before", headers=as_user("ann"))
    assert missing.status_code == 404


async def test_another_user_gets_a_missing_workspace_for_every_home_action(
    api: httpx.AsyncClient, plane: Plane
) -> None:
    bob = as_user("bob")
    answers = [
        await api.get("/api/workspaces/anns/snapshots", headers=bob),
        await api.post("/api/workspaces/anns/snapshots", json={"name": "x"}, headers=bob),
        await api.post("/api/workspaces/anns/restore", json={"snapshot": "x"}, headers=bob),
        await api.post("/api/workspaces/anns/rebuild", json={}, headers=bob),
        await api.post("/api/workspaces/anns/fork", json={"name": "bobs"}, headers=bob),
    ]
    assert [a.status_code for a in answers] == [404] * 5
    assert (
        await plane.volumes.snapshots(home_of((await plane.store.get("anns")).runtime_state)) == []
    )
    assert (await plane.workspaces.list(who=ANN)).total == 1


async def test_bad_snapshot_names_are_refused_and_nothing_is_taken(
    api: httpx.AsyncClient, plane: Plane
) -> None:
    for bad in ("auto-delete-x", "Upper", "a b", "-x", ""):
        answer = await api.post(
            "/api/workspaces/anns/snapshots", json={"name": bad}, headers=as_user("ann")
        )
        assert answer.status_code in (400, 422), bad
        assert "snapshot" in answer.text.lower() or "name" in answer.text.lower()
    home = home_of((await plane.store.get("anns")).runtime_state)
    assert await plane.volumes.snapshots(home) == []


async def test_restore_and_rebuild_are_accepted_and_show_their_work(
    api: httpx.AsyncClient, plane: Plane
) -> None:
    await api.post("/api/workspaces/anns/snapshots", json={"name": "s"}, headers=as_user("ann"))
    restored = await api.post(
        "/api/workspaces/anns/restore", json={"snapshot": "s"}, headers=as_user("ann")
    )
    assert restored.status_code == 202
    busy = await api.post("/api/workspaces/anns/rebuild", json={}, headers=as_user("ann"))
    assert busy.status_code == 409, "one piece of home work at a time"
    await plane.settle(await plane.store.get("anns"))
    taken = (await api.get("/api/workspaces/anns/snapshots", headers=as_user("ann"))).json()
    undo = taken["data"][1]
    assert undo["automatic"] is True and undo["name"].startswith("auto-restore-")
    kept_for = datetime.fromisoformat(undo["kept_until"]) - datetime.fromisoformat(undo["taken_at"])
    assert kept_for == timedelta(days=7), "an automatic snapshot says when it goes"
    listed = await api.get("/api/workspaces/anns", headers=as_user("ann"))
    assert listed.json()["home_volume"] is True and listed.json()["image_outdated"] is False
    rebuilt = await api.post(
        "/api/workspaces/anns/rebuild", json={"template": "newer"}, headers=as_user("ann")
    )
    assert rebuilt.status_code == 202 and rebuilt.json()["image"] == NEWER


async def test_an_outdated_image_is_shown(api: httpx.AsyncClient, plane: Plane) -> None:
    workspace = await plane.store.get("anns")
    await plane.store.save(replace(workspace, image="tidepool-workspace-old"))
    shown = await api.get("/api/workspaces", headers=as_user("ann"))
    assert shown.json()["items"][0]["image_outdated"] is True


async def test_fork_and_undelete_answer_with_the_new_workspace(
    api: httpx.AsyncClient, plane: Plane
) -> None:
    fork = await api.post(
        "/api/workspaces/anns/fork", json={"name": "anns-2"}, headers=as_user("ann")
    )
    assert fork.status_code == 201 and fork.json()["name"] == "anns-2"
    taken = await api.post(
        "/api/workspaces/anns/fork", json={"name": "anns-2"}, headers=as_user("ann")
    )
    assert taken.status_code == 409
    await plane.settle(await plane.workspaces.request("anns", Action.DELETE, who=ANN))
    nothing = await api.post("/api/workspaces/anns/undelete", headers=as_user("bob"))
    assert nothing.status_code == 404
    back = await api.post("/api/workspaces/anns/undelete", headers=as_user("ann"))
    assert back.status_code == 201 and back.json()["owner"] == "ann"


async def test_a_control_plane_without_home_volumes_says_why(plane: Plane) -> None:
    control = ControlPlane(
        plane.workspaces,
        plane.store,
        "http://t.test",
        homes=HomeService(plane.workspaces, plane.store, None, instance_prefix="ws"),
    )
    transport = httpx.ASGITransport(app=create_app(control))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/api/workspaces/anns/snapshots")
    assert answer.status_code == 409 and "root filesystem" in answer.text


async def test_a_read_only_token_may_list_snapshots_but_change_nothing(plane: Plane) -> None:
    reader = Identity("ann", admin=False, scopes=frozenset({Scope.READ}))
    assert await plane.homes.snapshots("anns", who=reader) == []
    for change in (
        plane.homes.take_snapshot("anns", "x", who=reader),
        plane.homes.rebuild("anns", who=reader),
        plane.homes.fork("anns", "anns-copy", who=reader),
        plane.homes.undelete("anns-gone", who=reader),
    ):
        with pytest.raises(ForbiddenError):
            await change
    home = home_of((await plane.store.get("anns")).runtime_state)
    assert await plane.volumes.snapshots(home) == []
    assert (await plane.workspaces.list(who=ANN)).total == 1
