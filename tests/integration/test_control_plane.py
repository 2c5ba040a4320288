"""The control plane for real: `tidepool serve` over real incusd, Caddy and databases.

Each test runs its own `tidepool serve` (own data directory, port, database and instance
prefix `tpt`), against the host's Incus and the workspace image.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.databases import database_url as fresh_database
from support.serve import ServeProcess, delete_and_wait, running_serve, wait_for_status
from tidepool import bootstrap
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import NotFoundError
from tidepool.host.unclaimed_file import UnclaimedFile
from tidepool.ports import InstanceSpec, Runtime
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpt"


def database_urls() -> list[object]:
    return ["sqlite", pytest.param("postgresql", id="postgresql")]


@pytest.fixture(params=database_urls())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database(request.param, tmp_path)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    async with bootstrap.opened_runtime(get_settings()) as rt:
        yield rt


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Iterator[ServeProcess]:
    with running_serve(tmp_path / "data", database_url, prefix=PREFIX) as process:
        yield process


async def our_instances(runtime: Runtime) -> set[str]:
    return {i.name for i in await runtime.list() if i.name.startswith(f"{PREFIX}-")}


async def test_three_workspaces_stop_one_delete_one_third_untouched(
    serve: ServeProcess, runtime: Runtime
) -> None:
    names = ["alpha", "bravo", "charlie"]
    async with serve.api() as api:
        for name in names:
            created = await api.create(name)
            assert created["status"] == "pending"
        for name in names:
            workspace = await wait_for_status(api, name, {"running", "failed"})
            assert workspace["status"] == "running", workspace
            assert await serve.ide_status(name) == 200
        charlie_before = await api.get("charlie")

        await api.act("alpha", "stop")
        await api.act("bravo", "delete")
        assert (await wait_for_status(api, "alpha", {"stopped"}))["status"] == "stopped"
        with pytest.raises(NotFoundError):
            for _ in range(300):
                await api.get("bravo")
                await asyncio.sleep(0.2)

        assert await serve.ide_status("alpha") == 404
        assert await serve.ide_status("bravo") == 404
        charlie = await api.get("charlie")
        assert charlie["status"] == "running"
        assert charlie["updated_at"] == charlie_before["updated_at"]
        assert await serve.ide_status("charlie") == 200
        assert len(await our_instances(runtime)) == 2  # alpha (stopped) and charlie

        for name in ("alpha", "charlie"):
            await api.act(name, "delete")
    for _ in range(300):
        if not await our_instances(runtime):
            break
        await asyncio.sleep(0.2)
    assert await our_instances(runtime) == set()


async def test_a_kill_mid_create_then_restart_converges_without_orphans(
    serve: ServeProcess, runtime: Runtime
) -> None:
    async with serve.api() as api:
        await api.create("crashy")
        async for event in api.events("crashy"):
            if event["kind"] == "phase" and event["value"] == "instance_created":
                break
    serve.kill()  # after the instance exists, before the route
    instances = await our_instances(runtime)
    assert len(instances) == 1
    routes = serve.route_table()
    assert "crashy" not in await routes.list()

    serve.start()
    async with serve.api() as api:
        workspace = await wait_for_status(api, "crashy", {"running", "failed"})
        assert workspace["status"] == "running", workspace
        assert await our_instances(runtime) == instances, "no second instance, no orphan"
        assert (await routes.list())["crashy"] == workspace["address"]
        assert await serve.ide_status("crashy") == 200

        await api.act("crashy", "delete")
        async for event in api.events("crashy"):
            if event["kind"] == "status" and event["value"] == "deleting":
                break
    serve.kill()  # in the middle of the delete
    serve.start()
    async with serve.api() as api:
        for _ in range(300):
            try:
                await api.get("crashy")
            except NotFoundError:
                break
            await asyncio.sleep(0.2)
        with pytest.raises(NotFoundError):
            await api.get("crashy")
    assert await our_instances(runtime) == set()
    assert "crashy" not in await routes.list()


async def test_drift_is_noticed_and_repaired(serve: ServeProcess, runtime: Runtime) -> None:
    routes = serve.route_table()
    async with serve.api() as api:
        for name in ("keep", "lose"):
            await api.create(name)
        for name in ("keep", "lose"):
            assert (await wait_for_status(api, name, {"running", "failed"}))["status"] == "running"
        lose = await api.get("lose")

        # Behind Tidepool's back: a route removed by hand, an instance deleted.
        await routes.remove("keep")
        lose_instance = await _instance_of(runtime, lose["address"])
        await runtime.delete(lose_instance)

        for _ in range(100):
            if "keep" in await routes.list():
                break
            await asyncio.sleep(0.2)
        assert "keep" in await routes.list(), "the missing route was put back"
        assert await serve.ide_status("keep") == 200
        lost = await wait_for_status(api, "lose", {"failed"}, timeout=30)
        assert "vanished" in lost["error"]

        # Start again recovers a failed workspace (with a new, empty instance).
        await api.act("lose", "start")
        assert (await wait_for_status(api, "lose", {"running"}))["status"] == "running"

        # An orphan route and an orphan instance are removed.
        await routes.add("ghost", "10.213.77.254")
        for _ in range(100):
            if "ghost" not in await routes.list():
                break
            await asyncio.sleep(0.2)
        assert "ghost" not in await routes.list()
        # An instance made by this installation for a deleted workspace is removed; one
        # that records no owner (or another installation's) is left, and reported.
        settings = get_settings()
        installation = (serve.data_dir / "installation-id").read_text().strip()
        gone = await api.create("gone")
        await delete_and_wait(api, "gone")
        orphan = f"{PREFIX}-{gone['id'][:16]}"
        stranger = f"{PREFIX}-{'0' * 16}"
        await runtime.create(
            InstanceSpec(
                orphan, settings.image_alias, owner=InstanceOwner(installation, gone["id"])
            )
        )
        await runtime.create(InstanceSpec(stranger, settings.image_alias))
        try:
            for _ in range(100):
                if orphan not in await our_instances(runtime):
                    break
                await asyncio.sleep(0.2)
            assert orphan not in await our_instances(runtime)
            assert stranger in await our_instances(runtime)
            unclaimed = UnclaimedFile.in_data_dir(serve.data_dir).read()
            assert stranger in {u.instance for u in unclaimed}
        finally:
            with contextlib.suppress(NotFoundError):
                await runtime.delete(stranger)
        for name in ("keep", "lose"):
            await api.act(name, "delete")


async def _instance_of(runtime: Runtime, address: str) -> str:
    for instance in await runtime.list():
        if instance.ipv4 == address:
            return instance.name
    raise AssertionError(f"no instance has {address}")


async def test_sigterm_is_a_clean_shutdown(serve: ServeProcess) -> None:
    assert serve.stop() == 0
    assert not serve.api_socket.exists() or "Tidepool stopped." in serve.log()
