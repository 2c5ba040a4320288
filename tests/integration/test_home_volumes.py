"""Homes on their own volumes, on real Incus (btrfs), Caddy and code-server, through a real
``serve`` and its API: a rebuild keeps home and nothing else, a restore puts a snapshot's
bytes back, a deleted workspace comes back with its files until retention lets it go, and a
fork has its source's files and an identity of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.users import write_users
from tidepool.bootstrap import build_runtime
from tidepool.client import ApiClient
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tph"
#: Bytes no text tool would round-trip by accident.
ODD = "printf 'one\\000two\\377\\n' > ~/work.bin"
SUM = "sha256sum < ~/work.bin"


async def shell(runtime: Runtime, instance: str, script: str, user: int | None = 1000) -> str:
    home = {"HOME": "/home/dev"} if user else {}
    done = await runtime.exec(instance, ["sh", "-c", script], user=user, env=home)
    return done.stdout.strip()


async def ide_answers(api: ApiClient, name: str) -> bool:
    """Its code-server answers at its address (``running`` says its route is live too)."""
    address = (await api.get(name))["address"]
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"http://{address}:8080/healthz")).status_code == 200


async def instance_of(runtime: Runtime, workspace_id: str) -> str:
    """The instance that records workspace ``workspace_id`` as its owner."""
    for instance in await runtime.list():
        if instance.owner is not None and instance.owner.workspace_id == workspace_id:
            return instance.name
    raise AssertionError(f"no instance records workspace {workspace_id}")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.3)


async def settled_on_new_instance(
    api: ApiClient, runtime: Runtime, name: str, workspace_id: str, old: str
) -> str:
    async def moved() -> bool:
        try:
            instance = await instance_of(runtime, workspace_id)
        except AssertionError:
            return False
        return instance != old and (await api.get(name))["status"] == "running"

    await eventually(moved, f"{name} rebuilt onto a new instance")
    return await instance_of(runtime, workspace_id)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    """The host's Incus, to look inside the workspaces as only root on the host can."""
    opened = build_runtime(Settings())
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", {"ann": "ann-password-1", "bob": "bob-password-1"})
    settings = {
        "TIDEPOOL_AUTH": "forward_auth",
        # Retention short enough to see it end: about 20 s, looked at every second.
        "TIDEPOOL_SNAPSHOT_DAYS": str(20 / 86400),
        "TIDEPOOL_SNAPSHOT_SWEEP_SECONDS": "1",
    }
    process = ServeProcess(data, free_port(), f"sqlite:///{data / 'tp.db'}", PREFIX, settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_rebuild_keeps_home_byte_identical_and_nothing_outside_it(
    serve: ServeProcess, runtime: Runtime
) -> None:
    async with serve.api("ann") as ann:
        made = await ann.create("rebuilt")
        assert (await wait_for_status(ann, "rebuilt", {"running", "failed"}))["status"] == "running"
        shown = await ann.get("rebuilt")
        assert shown["home_volume"] is True and shown["image_outdated"] is False
        old = await instance_of(runtime, made["id"])
        await shell(runtime, old, f"{ODD}; echo root-side > /tmp/outside")
        before = await shell(runtime, old, SUM)

        await ann.rebuild("rebuilt")
        new = await settled_on_new_instance(ann, runtime, "rebuilt", made["id"], old)
        assert await shell(runtime, new, SUM) == before
        assert await shell(runtime, new, "test -e /tmp/outside || echo gone") == "gone"
        assert await shell(runtime, new, "test -e ~/.bashrc && echo seeded") == "seeded"
        with pytest.raises(NotFoundError):
            await runtime.state(old)
        assert await ide_answers(ann, "rebuilt")
        await delete_and_wait(ann, "rebuilt")


async def test_restore_puts_back_a_snapshots_bytes_and_can_be_undone(
    serve: ServeProcess, runtime: Runtime
) -> None:
    async with serve.api("ann") as ann, serve.api("bob") as bob:
        made = await ann.create("restored")
        await wait_for_status(ann, "restored", {"running"})
        instance = await instance_of(runtime, made["id"])
        await shell(runtime, instance, ODD)
        good = await shell(runtime, instance, SUM)
        await ann.take_snapshot("restored", "good")
        await shell(runtime, instance, "echo broken > ~/work.bin; echo new > ~/new.txt")
        with pytest.raises(NotFoundError):
            await bob.restore("restored", "good")
        await ann.restore("restored", "good")

        async def back() -> bool:
            if (await ann.get("restored"))["status"] != "running":
                return False
            return await shell(runtime, instance, SUM) == good

        await eventually(back, "the snapshot's bytes back, and the workspace running")
        assert await shell(runtime, instance, "test -e ~/new.txt || echo gone") == "gone"
        names = [s["name"] for s in (await ann.snapshots("restored"))["data"]]
        assert names[0] == "good" and names[1].startswith("auto-restore-"), names
        assert await ide_answers(ann, "restored")
        await delete_and_wait(ann, "restored")


async def test_undelete_within_retention_brings_the_files_back_and_after_it_nothing(
    serve: ServeProcess, runtime: Runtime
) -> None:
    async with serve.api("ann") as ann, serve.api("bob") as bob:
        made = await ann.create("undeleted")
        await wait_for_status(ann, "undeleted", {"running"})
        await shell(runtime, await instance_of(runtime, made["id"]), ODD)
        before = await shell(runtime, await instance_of(runtime, made["id"]), SUM)
        await delete_and_wait(ann, "undeleted")
        with pytest.raises(NotFoundError):
            await bob.undelete("undeleted")
        back = await ann.undelete("undeleted")
        assert back["owner"] == "ann" and back["id"] != made["id"]
        await wait_for_status(ann, "undeleted", {"running"})
        assert await shell(runtime, await instance_of(runtime, back["id"]), SUM) == before
        assert await ide_answers(ann, "undeleted")

        # Deleted again, and kept no longer than retention (about 20 s here).
        await delete_and_wait(ann, "undeleted")
        await asyncio.sleep(25)

        async def gone() -> bool:
            try:
                await ann.undelete("undeleted")
            except NotFoundError:
                return True
            raise AssertionError("brought back after retention")

        await eventually(gone, "undelete refused after retention", timeout=30)


async def test_a_fork_of_a_running_workspace_has_its_files_and_its_own_identity(
    serve: ServeProcess, runtime: Runtime
) -> None:
    identity = "cat /etc/machine-id; hostname; cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null"
    async with serve.api("ann") as ann, serve.api("bob") as bob:
        made = await ann.create("source")
        source = await wait_for_status(ann, "source", {"running"})
        original = await instance_of(runtime, made["id"])
        await shell(runtime, original, ODD)
        before = await shell(runtime, original, SUM)
        with pytest.raises(NotFoundError):
            await bob.fork("source", "bobs-fork")
        forked = await ann.fork("source", "the-fork")
        fork = await wait_for_status(ann, "the-fork", {"running", "failed"})
        assert fork["status"] == "running" and fork["owner"] == "ann"
        copy = await instance_of(runtime, forked["id"])
        assert copy != original and fork["address"] != source["address"]
        assert await shell(runtime, copy, SUM) == before
        mine, theirs = (
            await shell(runtime, copy, identity, user=None),
            await shell(runtime, original, identity, user=None),
        )
        assert mine.splitlines()[0] != theirs.splitlines()[0], "machine-id"
        assert mine.splitlines()[1] != theirs.splitlines()[1], "hostname"
        await shell(runtime, copy, "echo changed > ~/work.bin")
        assert await shell(runtime, original, SUM) == before, "the source is untouched"
        assert await ide_answers(ann, "the-fork")
        await delete_and_wait(ann, "the-fork")
        await delete_and_wait(ann, "source")


async def test_an_older_workspace_moves_its_home_onto_a_volume_at_its_next_start(
    tmp_path: Path, runtime: Runtime
) -> None:
    """An upgrade: made by a serve without home volumes, started again by one with them."""
    data = tmp_path / "data"
    database = f"sqlite:///{data / 'tp.db'}"
    older = ServeProcess(data, free_port(), database, PREFIX, {"TIDEPOOL_HOME_VOLUMES": "false"})
    older.start()
    try:
        async with older.api() as api:
            made = await api.create("older")
            assert (await wait_for_status(api, "older", {"running"}))["home_volume"] is False
            instance = await instance_of(runtime, made["id"])
            await shell(runtime, instance, f"{ODD}; ln -s work.bin ~/link; chmod 600 ~/work.bin")
            before = await shell(runtime, instance, f"{SUM}; stat -c '%a %U' ~/work.bin")
    finally:
        older.stop()
    newer = ServeProcess(data, free_port(), database, PREFIX)
    newer.start()
    try:
        async with newer.api() as api:
            await api.act("older", "stop")
            await wait_for_status(api, "older", {"stopped"})
            await api.act("older", "start")
            started = await wait_for_status(api, "older", {"running", "failed"})
            assert started["status"] == "running", started
            assert started["home_volume"] is True
            mounted = await shell(runtime, instance, "findmnt -no SOURCE /home/dev", user=None)
            assert f"{instance}-home" in mounted
            after = await shell(runtime, instance, f"{SUM}; stat -c '%a %U' ~/work.bin")
            assert after == before
            assert await shell(runtime, instance, "readlink ~/link") == "work.bin"
            assert await ide_answers(api, "older")
            await api.take_snapshot("older", "now-it-can")
            await delete_and_wait(api, "older")
    finally:
        newer.stop()
