"""A second ``serve`` on an empty database, on the same Incus, deletes nothing of the first's.

This is what an operator does who switches ``TIDEPOOL_DATABASE_URL`` to a new PostgreSQL, or
who runs a second installation (or a test ``serve`` with another data directory) on a host
with workspaces: the second finds instances its database does not know. It must leave every
one running with its files and say what it found, never take them for orphans.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.databases import database_url
from support.serve import delete_and_wait, running_serve, wait_for_status
from tidepool import bootstrap
from tidepool.domain.ownership import Verdict
from tidepool.host.unclaimed_file import UnclaimedFile
from tidepool.ports import Runtime
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PRECIOUS = "/var/tmp/precious.txt"


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    async with bootstrap.opened_runtime(get_settings()) as rt:
        yield rt


async def instance_at(runtime: Runtime, address: str) -> str:
    for instance in await runtime.list():
        if instance.ipv4 == address:
            return instance.name
    raise AssertionError(f"no instance has {address}")


@pytest.mark.parametrize("second_database", ["sqlite", "postgresql"])
async def test_a_second_serve_on_an_empty_database_keeps_every_instance_and_file(
    tmp_path: Path, runtime: Runtime, second_database: str
) -> None:
    first_url = database_url("sqlite", tmp_path)
    with running_serve(tmp_path / "first", first_url, prefix="tpt") as first:
        async with first.api() as api:
            await api.create("keepme")
            workspace = await wait_for_status(api, "keepme", {"running", "failed"})
            assert workspace["status"] == "running", workspace
            instance = await instance_at(runtime, workspace["address"])
            wrote = await runtime.exec(instance, ["sh", "-c", f"echo mine > {PRECIOUS}"])
            assert wrote.ok, wrote

            second_dir = tmp_path / "second"
            second_dir.mkdir()
            second_url = database_url(second_database, second_dir)
            with running_serve(second_dir / "data", second_url, prefix="tpt") as second:
                found = UnclaimedFile.in_data_dir(second.data_dir)
                for _ in range(150):  # its first resync runs at start, then every 2 s
                    if instance in {u.instance for u in found.read()}:
                        break
                    await asyncio.sleep(0.2)
                [seen] = [u for u in found.read() if u.instance == instance]
                assert seen.verdict is Verdict.FOREIGN, seen
                assert seen.owner and seen.owner.workspace_id == workspace["id"]
                await asyncio.sleep(6)  # three more resyncs of the second serve
                assert instance in {i.name for i in await runtime.list()}
                assert "not workspaces of this database" in second.log()

            kept = await runtime.exec(instance, ["cat", PRECIOUS])
            assert kept.stdout == "mine\n", kept
            after = await api.get("keepme")
            assert (after["status"], after["error"]) == ("running", "")
            assert await first.ide_status("keepme") == 200
            await delete_and_wait(api, "keepme")
