"""Per-user quotas: refused with a message naming the quota, nothing changed; raised per user."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support.users import write_users
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.identity import HOST, Identity
from tidepool.domain.quotas import Footprint, Quota, QuotaExceededError, Usage, check
from tidepool.domain.templates import Size
from tidepool.domain.workspace import Action, Desired, Status, Workspace
from tidepool.edge import USER_HEADER
from tidepool.errors import InvalidInputError
from tidepool.policies import quota_of
from tidepool.ports import WorkspaceStore
from tidepool.services.workspaces import WorkspaceService
from tidepool.settings import Settings
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)
SMALL = Footprint(running=True, cpus=2, memory_mib=2048)


@pytest.mark.parametrize(
    ("quota", "usage", "named"),
    [
        (Quota(workspaces=2), Usage(workspaces=2), "quota_workspaces"),
        (Quota(running=1), Usage(workspaces=1, running=1), "quota_running"),
        (Quota(cpus=3), Usage(workspaces=1, running=1, cpus=2), "quota_cpus"),
        (Quota(memory_mib=4000), Usage(1, 1, 2, 2048), "quota_memory_mib"),
    ],
)
def test_going_over_a_quota_names_it(quota: Quota, usage: Usage, named: str) -> None:
    with pytest.raises(QuotaExceededError, match=named) as refused:
        check("ann", quota, usage, new=True, runs=SMALL)
    assert "tidepool user quota ann" in str(refused.value)


def test_under_every_quota_nothing_is_said() -> None:
    check("ann", Quota(2, 2, 4, 4096), Usage(1, 1, 2, 2048), new=True, runs=SMALL)
    check("ann", Quota(1, 1, 1, 1), Usage(5, 5, 9, 9999), new=False, runs=None)  # stops: fine


def test_usage_counts_only_running_workspaces_sizes() -> None:
    usage = Usage.of([SMALL, Footprint(running=False, cpus=8, memory_mib=8192)])
    assert usage == Usage(workspaces=2, running=1, cpus=2, memory_mib=2048)


def test_overrides_must_be_known_quotas() -> None:
    with pytest.raises(InvalidInputError, match="Unknown quota colours"):
        Quota().with_overrides({"colours": 3})


@pytest.fixture
def store() -> WorkspaceStore:
    return memory_store()[0]


def service(store: WorkspaceStore, quota: Quota) -> WorkspaceService:
    return WorkspaceService(store, default_image="img", quota_of=lambda _: quota)


async def test_one_workspace_over_the_quota_is_a_409_and_nothing_is_made(
    store: WorkspaceStore,
) -> None:
    plane = ControlPlane(service(store, Quota(workspaces=1)), store, "http://t.test", auth=True)
    transport = httpx.ASGITransport(app=create_app(plane))
    as_ann = {USER_HEADER: "ann"}  # as Caddy says it, with sign-in on
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=as_ann) as api:
        assert (await api.post("/api/workspaces", json={"name": "one"})).status_code == 202
        refused = await api.post("/api/workspaces", json={"name": "two"})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "quota_workspaces" in refused.json()["detail"]
        assert (await api.get("/api/workspaces")).json()["total"] == 1


async def test_the_running_quota_holds_at_create_and_at_start(store: WorkspaceStore) -> None:
    workspaces = service(store, Quota(running=1))
    stopped = Workspace(
        name="rest", owner="ann", image="img", desired=Desired.STOPPED, status=Status.STOPPED
    )
    await store.add(stopped)  # a stopped workspace does not count as running
    await workspaces.create("one", who=ANN)
    with pytest.raises(QuotaExceededError, match="quota_running"):
        await workspaces.create("two", who=ANN)
    with pytest.raises(QuotaExceededError, match="1 running workspaces"):
        await workspaces.request("rest", Action.START, who=ANN)
    assert (await store.get("rest")).desired is Desired.STOPPED, "nothing changed"
    assert (await store.list(owner="ann")).total == 2


async def test_cpus_and_memory_count_the_sizes_of_the_running(store: WorkspaceStore) -> None:
    workspaces = service(store, Quota(cpus=3))
    await workspaces.create("one", who=ANN, size=Size(cpus=2))
    with pytest.raises(QuotaExceededError, match="quota_cpus"):
        await workspaces.create("two", who=ANN, size=Size(cpus=2))
    await workspaces.create("two", who=ANN, size=Size(cpus=1))


async def test_quotas_are_each_users_own_and_the_host_has_none(store: WorkspaceStore) -> None:
    workspaces = service(store, Quota(workspaces=1))
    await workspaces.create("ann1", who=ANN)
    await workspaces.create("bob1", who=Identity("bob", admin=False))
    await workspaces.create("host1", who=HOST)
    await workspaces.create("host2", who=HOST)


def test_an_admin_gives_one_user_their_own_quota(tmp_path: Path) -> None:
    users = write_users(tmp_path / "users.json", {"ann": "pw-ann-1234", "bob": "pw-bob-1234"})
    settings = Settings(data_dir=tmp_path, quota_workspaces=2, quota_running=1)
    users.set_quota("ann", {"workspaces": 5, "running": 0})
    of = quota_of(settings)
    assert of("ann") == Quota(workspaces=5, running=None)  # 0: no limit
    assert of("bob") == Quota(workspaces=2, running=1)
    users.set_quota("ann", {})
    assert of("ann") == Quota(workspaces=2, running=1)
