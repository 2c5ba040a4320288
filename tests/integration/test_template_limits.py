"""A template's limits hold inside the workspace: CPUs, memory and the root disk, and the
workspace sees them (``free``, ``/proc/cpuinfo`` and ``uptime`` are its own, through lxcfs).

A real ``serve`` with one template (1 CPU, 1 GiB, 5 GiB) makes a workspace from it on the real
Incus; what the workspace's own processes see is checked from inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpl"
SMALL = {"name": "small", "description": "1 CPU", "cpus": 1, "memory_mib": 1024, "disk_gib": 5}
GIB = 1 << 30
FILL = (
    "dd if=/dev/zero of=/home/dev/fill bs=1M count=5200 2>/dev/shm/dd.txt; failed=$?;"
    " rm -f /home/dev/fill; cat /dev/shm/dd.txt; exit $failed"
)
#: The memory limit as each cgroup version names it.
MEMORY_LIMIT = "cat /sys/fs/cgroup/memory.max 2>/dev/null || " + (
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
)


async def test_a_templates_cpus_memory_and_disk_hold_inside(tmp_path: Path) -> None:
    serve = ServeProcess(
        tmp_path / "data",
        free_port(),
        f"sqlite:///{tmp_path / 'tp.db'}",
        PREFIX,
        {"TIDEPOOL_TEMPLATES": json.dumps([SMALL])},
    )
    serve.start()
    runtime = build_runtime(Settings())
    try:
        async with serve.api() as api:
            made = await api.create("tight", "small")
            assert (made["template"], made["cpus"], made["disk_gib"]) == ("small", 1, 5)
            workspace = await wait_for_status(api, "tight", {"running"})
            instance = instance_name_for(PREFIX, workspace["id"])

            nproc = await runtime.exec(instance, ["nproc"], user=1000)
            assert nproc.stdout.strip() == "1", nproc
            memory = await runtime.exec(instance, ["sh", "-c", MEMORY_LIMIT])
            assert int(memory.stdout.strip()) == GIB, memory
            # What tools size themselves from (lxcfs): the workspace's memory, CPUs, uptime.
            free = await runtime.exec(instance, ["free", "-m"], user=1000)
            total = int(free.stdout.splitlines()[1].split()[1])
            assert 0 < total <= 1024, free
            cpuinfo = await runtime.exec(instance, ["grep", "-c", "^processor", "/proc/cpuinfo"])
            assert cpuinfo.stdout.strip() == "1", cpuinfo
            uptime = await runtime.exec(instance, ["cat", "/proc/uptime"])
            own = float(uptime.stdout.split()[0])
            host = float(Path("/proc/uptime").read_text().split()[0])
            assert own < min(600.0, host), (own, host)
            # Past 5 GiB (the image's files count too), a write fails and says why. Incus
            # records an exec's output on the same disk, so what dd said is kept in memory
            # (/dev/shm) until its file is gone.
            filled = await runtime.exec(instance, ["sh", "-c", FILL], user=1000, timeout=300)
            assert filled.exit_code != 0, filled
            said = filled.stdout.lower()
            assert "no space left" in said or "disk quota exceeded" in said, filled
            await delete_and_wait(api, "tight")
    finally:
        await runtime.aclose()
        serve.stop()
