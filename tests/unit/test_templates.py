"""Templates: the admin's list, what a create may ask for, and what reaches the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.identity import Identity
from tidepool.domain.templates import Catalog, Maximums, Size, Template
from tidepool.errors import InvalidInputError, NotFoundError
from tidepool.ports import WorkspaceStore
from tidepool.services.workspaces import WorkspaceService
from tidepool.settings import Settings
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)
SETTINGS = Settings(
    templates=[
        {
            "name": "small",
            "description": "For scripts.",
            "cpus": 1,
            "memory_mib": 1024,
            "disk_gib": 5,
        },
        {"name": "gpu-less", "image": "team/big", "cpus": 4},
    ],
    max_workspace_cpus=4,
    max_workspace_memory_mib=8192,
    max_workspace_disk_gib=50,
)


def test_default_is_always_there_and_first_with_todays_image_and_size() -> None:
    names = [t.name for t in SETTINGS.catalog.templates]
    assert names == ["default", "gpu-less", "small"]
    default = SETTINGS.catalog.get("default")
    assert default.image == SETTINGS.image_alias
    assert default.size == Size(SETTINGS.workspace_cpus, SETTINGS.workspace_memory_mib, None)
    assert SETTINGS.catalog.get("gpu-less").size.memory_mib == SETTINGS.workspace_memory_mib


def test_an_unknown_template_names_the_ones_there_are() -> None:
    with pytest.raises(NotFoundError, match="no template 'huge'; there are: default, gpu-less"):
        SETTINGS.catalog.get("huge")
    with pytest.raises(InvalidInputError, match="not a template name"):
        SETTINGS.catalog.get("../etc")


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (Size(cpus=5), "5 CPUs; the most a workspace may have here is 4 (`max_workspace_cpus`"),
        (Size(memory_mib=9000), "`max_workspace_memory_mib`"),
        (Size(disk_gib=51), "`max_workspace_disk_gib`"),
        (Size(cpus=0), "at least 1"),
        (Size(memory_mib=100), "at least 256"),
        (Size(disk_gib=1), "at least 3"),
    ],
)
def test_a_size_outside_the_limits_says_which(asked: Size, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        SETTINGS.catalog.size_for(SETTINGS.catalog.get("small"), asked)


def test_what_is_asked_replaces_the_templates_size_part_by_part() -> None:
    small = SETTINGS.catalog.get("small")
    assert SETTINGS.catalog.size_for(small, Size(cpus=2)) == Size(2, 1024, 5)


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ([{"name": "big", "cpus": 99}], "Template 'big' asks for 99 CPUs"),
        ([{"name": "twice"}, {"name": "twice"}], "defined twice"),
        ([{"name": "Bad Name"}], "name"),
        ([{"name": "x", "image": "$(reboot)"}], "image"),
        ([{"name": "x", "colour": "red"}], "colour"),
    ],
)
def test_a_bad_template_stops_the_start(templates: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        Settings(templates=templates)


def test_a_catalog_needs_a_default() -> None:
    with pytest.raises(InvalidInputError, match="'default'"):
        Catalog([Template("only", "", "img", Size())], Maximums(1, 1024, 10))


@pytest.fixture
def store() -> WorkspaceStore:
    return memory_store()[0]


@pytest.fixture
async def api(store: WorkspaceStore) -> AsyncIterator[httpx.AsyncClient]:
    service = WorkspaceService(store, default_image="img", catalog=SETTINGS.catalog)
    plane = ControlPlane(service, store, "http://tidepool.test")
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_the_api_lists_templates_with_the_maximums(api: httpx.AsyncClient) -> None:
    found = (await api.get("/api/templates")).json()
    assert [t["name"] for t in found["items"]] == ["default", "gpu-less", "small"]
    assert found["items"][2] == {
        "name": "small",
        "description": "For scripts.",
        "image": SETTINGS.image_alias,
        "cpus": 1,
        "memory_mib": 1024,
        "disk_gib": 5,
        "repository": None,
        "branch": None,
    }
    assert found["maximums"] == {"cpus": 4, "memory_mib": 8192, "disk_gib": 50}


async def test_a_create_from_a_template_keeps_its_image_and_size(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/workspaces", json={"name": "w1", "template": "small", "cpus": 2})
    assert made.status_code == 202, made.text
    body = made.json()
    assert (body["template"], body["image"]) == ("small", SETTINGS.image_alias)
    assert (body["cpus"], body["memory_mib"], body["disk_gib"]) == (2, 1024, 5)
    other = (await api.post("/api/workspaces", json={"name": "w2", "template": "gpu-less"})).json()
    assert other["image"] == "team/big"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"template": "huge"}, "no template 'huge'"),
        ({"template": "small", "memory_mib": 99999}, "max_workspace_memory_mib"),
        ({"disk_gib": 1}, "at least 3"),
    ],
)
async def test_a_create_outside_the_list_or_the_limits_is_a_400_and_makes_nothing(
    api: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    refused = await api.post("/api/workspaces", json={"name": "w1", **body})
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert message in refused.json()["detail"]
    assert (await api.get("/api/workspaces")).json()["total"] == 0
