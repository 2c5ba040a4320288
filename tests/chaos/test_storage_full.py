"""A full storage pool: a create fails with a clear message, nothing stored is lost, and a
retry works once space is freed.

The platform runs on a small pool of its own (5 GiB, a loop file like the real one), so
filling it takes seconds and never touches the host's real pool. The pool is filled the way
an operator meets it: something else on it (here a custom volume) took the space that was
left, while a workspace runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.room import MIN_FREE_BYTES
from tidepool.adapters.incus.room import free_bytes as free_bytes_in_pool
from tidepool.bootstrap import build_runtime, incus_client
from tidepool.client import JSON, ApiClient
from tidepool.domain.names import instance_name_for
from tidepool.errors import NotFoundError
from tidepool.host import incus_preseed
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy, pytest.mark.e2e]
POOL = "tpfull"
FILLER = "filler"
KEPT = "/home/dev/kept.bin"
SETTLED = {"running", "failed"}
#: Where Incus mounts a custom volume of the pool on the host.
POOL_DIR = Path(f"/var/lib/incus/storage-pools/{POOL}")
FILLER_DIR = POOL_DIR / "custom" / f"default_{FILLER}"


@contextlib.asynccontextmanager
async def small_pool(settings: Settings) -> AsyncIterator[IncusClient]:
    """The pool and profile ``settings`` name, made as ``tidepool host init`` makes them,
    and removed afterwards with whatever is left on them."""
    client = incus_client(settings)
    try:
        await incus_preseed.ensure_storage_pool(client, settings)
        await incus_preseed.ensure_profile(client, settings)
        yield client
    finally:
        with contextlib.suppress(NotFoundError):
            profile = await client.sync("GET", f"/1.0/profiles/{settings.incus_profile}")
            for used_by in profile["used_by"] or []:  # left by a failed run: only ours use it
                with contextlib.suppress(NotFoundError):
                    await client.run(
                        "PUT", f"{used_by}/state", json={"action": "stop", "force": True}
                    )
                with contextlib.suppress(NotFoundError):
                    await client.run("DELETE", used_by)
            await client.sync("DELETE", f"/1.0/profiles/{settings.incus_profile}")
        # Then the filler, and the homes the test's deletes kept for undelete (with their
        # snapshots): a pool with a volume on it cannot be deleted.
        volumes = f"/1.0/storage-pools/{POOL}/volumes/custom"
        with contextlib.suppress(NotFoundError):
            for volume in await client.sync("GET", volumes, params={"recursion": "1"}) or []:
                if "/" not in volume["name"]:
                    with contextlib.suppress(NotFoundError):
                        await client.run("DELETE", f"{volumes}/{volume['name']}")
        with contextlib.suppress(NotFoundError):
            await client.sync("DELETE", f"/1.0/storage-pools/{POOL}")
        await client.aclose()


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


async def wait_for_space(directory: Path, wanted: int, timeout: float = 120) -> None:
    """btrfs frees a deleted volume's space in the background: wait for it as an operator
    watching ``df`` would."""
    deadline = asyncio.get_running_loop().time() + timeout
    while free_bytes(directory) < wanted:
        assert asyncio.get_running_loop().time() < deadline, "the space was never freed"
        await asyncio.sleep(0.5)


async def settled_after(api: ApiClient, asked: JSON, timeout: float = 120) -> JSON:
    """The workspace once the worker settled it (running or failed) after the request that
    left it as ``asked``: a retry of a failed workspace starts out ``failed`` still."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await api.get(asked["name"])
        if current["updated_at"] != asked["updated_at"] and current["status"] in SETTLED:
            return current
        assert asyncio.get_running_loop().time() < deadline, f"never settled: {current}"
        await asyncio.sleep(0.2)


def fill(directory: Path) -> int:
    """Take every byte left on the filesystem under ``directory``; returns how many.

    First the data space, with large allocations; then btrfs's metadata space, which keeps
    small files inline and so still took a small write (Incus's ``backup.yaml``) once the data
    space was gone: small files until that is full too.
    """
    taken = 0
    chunk = 256 << 20
    with (directory / "fill").open("wb") as file:
        while chunk >= 4096:
            try:
                os.posix_fallocate(file.fileno(), taken, chunk)
                taken += chunk
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
                chunk //= 2
    small = directory / "small"
    small.mkdir()
    fill_metadata(small)
    return taken


def fill_metadata(small: Path) -> None:
    """Small files in ``small`` until the metadata space is gone too."""
    for index in range(5_000_000):
        try:
            (small / f"{index}-{os.getpid()}-{time.monotonic_ns()}").write_bytes(b"x" * 1024)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
            return
    raise AssertionError("the metadata space never ran out")


async def test_a_full_pool_fails_a_create_clearly_and_loses_nothing(
    tmp_path: Path, browser: Browser
) -> None:
    settings = Settings(storage_pool=POOL, incus_profile=POOL, storage_size_gib=5)
    async with small_pool(settings) as incus:
        serve = ServeProcess(
            tmp_path / "data",
            free_port(),
            f"sqlite:///{tmp_path / 'tp.db'}",
            "tpd",
            {"TIDEPOOL_STORAGE_POOL": POOL, "TIDEPOOL_INCUS_PROFILE": POOL},
        )
        serve.start()
        runtime = build_runtime(settings)
        try:
            async with serve.api() as api:
                await api.create("keeper")
                keeper = await wait_for_status(api, "keeper", {"running"})
                instance = instance_name_for("tpd", keeper["id"])
                kept = os.urandom(1 << 20)
                await runtime.push_file(instance, KEPT, kept, uid=1000, gid=1000)

                await incus.run(
                    "POST", f"/1.0/storage-pools/{POOL}/volumes/custom", json={"name": FILLER}
                )
                assert fill(FILLER_DIR) > 1 << 30, "the pool had more than a GiB left"
                # Incus sees the pool as full, so the create is refused before it begins.
                left = await free_bytes_in_pool(incus, POOL)
                assert left is not None and left < MIN_FREE_BYTES, left

                # The create fails, and says why, in the API ...
                await api.create("second")
                failed = await wait_for_status(api, "second", {"failed", "running"}, 120)
                assert failed["status"] == "failed", failed
                assert "storage pool is full" in failed["error"], failed
                # ... in the CLI, with a non-zero exit (a failed create frees what it had
                # begun to write: the pool is topped up first) ...
                shown = tidepool("workspace", "list", env=serve.env())
                assert "storage pool is full" in shown.stdout, shown
                fill_metadata(FILLER_DIR / "small")
                third = tidepool("workspace", "create", "third", "--wait", env=serve.env())
                assert third.returncode != 0, third
                assert "storage pool is full" in third.stdout + third.stderr, third
                # ... and in the web app.
                page = await browser.new_page()
                try:
                    await page.goto(f"{serve.base_url}/app/")
                    card = page.locator('.workspace[data-name="second"] .error')
                    await expect(card).to_contain_text("storage pool is full")
                finally:
                    await page.close()

                # The running workspace keeps working and nothing stored is lost.
                assert await serve.ide_status("keeper") == 200
                # (read through the files API: ``exec`` records its output on the full pool)
                stored = await incus.request(
                    "GET", f"/1.0/instances/{instance}/files", params={"path": KEPT}
                )
                assert hashlib.sha256(stored.content).digest() == hashlib.sha256(kept).digest()

                # Space freed, a retry works.
                await incus.run("DELETE", f"/1.0/storage-pools/{POOL}/volumes/custom/{FILLER}")
                await wait_for_space(POOL_DIR, MIN_FREE_BYTES + (256 << 20))
                asked = await api.act("second", "start")
                second = await settled_after(api, asked)
                assert second["status"] == "running", second
                assert second["error"] == ""
                assert await serve.ide_status("second") == 200

                for name in ("second", "third", "keeper"):
                    await delete_and_wait(api, name)
        finally:
            await runtime.aclose()
            serve.stop()
