"""A workspace's disk size holds after the pool's quota count went wrong, on the real btrfs
pool under Incus.

btrfs stops counting (and so stops enforcing every disk size on the pool) once a delete
marks its accounting inconsistent; with the kernel's default threshold a day of creates and
deletes did it, and a workspace wrote 5.1 GiB on a 5 GiB disk. Here the threshold is
lowered so that one delete does it for certain; then:

- a real ``serve`` starting puts the threshold back and has the count rescanned, after which
  a write past a workspace's disk size fails;
- while ``serve`` runs, a threshold set back (incusd mounting the pool again) is raised
  within its check interval, and so is the workspace firewall deleted by hand (each check
  in a loop of its own, so that one failing never starves the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess
from tidepool import bootstrap
from tidepool.domain.names import InstanceName
from tidepool.errors import NotFoundError
from tidepool.host import firewall
from tidepool.host.btrfs_quota import DEEPEST_LEVEL, pool_mount, qgroups_dir
from tidepool.ports import InstanceSpec, Runtime
from tidepool.server import HOST_CHECK_SECONDS
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpq"
#: The raw instances' own prefix, which no serve here claims.
RAW = "tpr"
#: Once the instance's /dev/shm is mounted (what dd says is kept there, off the full disk).
FILL = (
    "until [ -d /dev/shm ]; do sleep 0.2; done;"
    " dd if=/dev/zero of=/root/fill bs=1M count=1200 2>/dev/shm/dd.txt; failed=$?;"
    " rm -f /root/fill; cat /dev/shm/dd.txt; exit $failed"
)


def qgroups() -> Path:
    settings = get_settings()
    found = qgroups_dir(pool_mount(settings.incus_socket, settings.storage_pool))
    if found is None:
        pytest.fail(f"the pool {settings.storage_pool!r} is not a btrfs with quotas")
    return found


def read(name: str) -> str:
    return (qgroups() / name).read_text().strip()


def forget_firewall() -> None:
    subprocess.run(["nft", "delete", "table", "inet", firewall.TABLE], check=True)


def firewall_present() -> bool:
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    return f"table inet {firewall.TABLE}" in tables.stdout


async def wait_for(what: str, value: str, timeout: float) -> float:
    """Seconds until ``what`` reads ``value``."""
    started = time.monotonic()
    while read(what) != value:
        assert time.monotonic() - started < timeout, f"{what} is {read(what)}, not {value}"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def make(runtime: Runtime, name: str, disk_gib: int | None = None) -> InstanceName:
    instance = InstanceName(name)
    spec = InstanceSpec(instance, get_settings().image_alias, cpus=1, disk_gib=disk_gib)
    await runtime.create(spec)
    await runtime.start(instance)
    return instance


async def test_serve_makes_a_lost_count_hold_again(tmp_path: Path) -> None:
    settings = get_settings()
    (qgroups() / "drop_subtree_threshold").write_text("0\n")
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
    async with bootstrap.opened_runtime(settings) as runtime:
        try:
            # One delete of a used instance now gives up counting, as a deep one does by default.
            used = await make(runtime, f"{RAW}-used")
            await runtime.exec(used, ["sh", "-c", "seq 3000 | xargs -I{} touch /root/f{}; sync"])
            await runtime.delete(used)
            await wait_for("inconsistent", "1", timeout=120)

            serve.start()
            await wait_for("inconsistent", "0", timeout=60)
            assert read("drop_subtree_threshold") == str(DEEPEST_LEVEL)

            small = await make(runtime, f"{RAW}-small", disk_gib=2)
            filled = await runtime.exec(small, ["sh", "-c", FILL], timeout=300)
            assert filled.exit_code != 0, filled
            assert "quota exceeded" in filled.stdout, filled

            (qgroups() / "drop_subtree_threshold").write_text("3\n")
            took = await wait_for("drop_subtree_threshold", str(DEEPEST_LEVEL), 30)
            assert took <= HOST_CHECK_SECONDS + 2, took

            await asyncio.to_thread(forget_firewall)
            began = time.monotonic()
            while not firewall_present():
                assert time.monotonic() - began <= HOST_CHECK_SECONDS + 2, "no firewall"
                await asyncio.sleep(0.2)
        finally:
            if serve.process is not None:
                serve.stop()
            for name in (f"{RAW}-used", f"{RAW}-small"):
                with contextlib.suppress(NotFoundError):
                    await runtime.delete(InstanceName(name))
            (qgroups() / "drop_subtree_threshold").write_text(f"{DEEPEST_LEVEL}\n")
            firewall.ensure_firewall(settings.bridge_name, allow=settings.egress_allow)
