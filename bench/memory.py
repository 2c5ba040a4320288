"""What one idle workspace costs in memory: the number a cluster's capacity is planned by.

Prints JSON. ``--count`` workspaces are made from the workspace image with Tidepool's own
profile and started one after another; each is waited on until its IDE answers, then all sit
``--settle`` seconds with nobody connected (code-server idle, as after a tab closed). Then:

- each container's own memory use, as Incus reports it (its cgroup: what counts against its
  limit), median and range;
- the host's memory taken by the lot: ``MemAvailable`` before the first start and after the
  settle, divided by the count (page cache the image shares among them is counted once, and
  the kernel's own per-container costs are in it).

Everything the bench made is deleted afterwards. All traffic goes to loopback and to the
instances it made.

    .venv/bin/python bench/memory.py [--count 5] [--settle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tidepool.adapters.incus.client import IncusClient  # noqa: E402
from tidepool.bootstrap import build_runtime, incus_client  # noqa: E402
from tidepool.ports import InstanceSpec  # noqa: E402
from tidepool.settings import get_settings  # noqa: E402

MIB = 1 << 20


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


async def wait_for_ide(http: httpx.AsyncClient, address: str, timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if (await http.get(f"http://{address}:8080/healthz")).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"the IDE at {address} never answered")


async def container_memory(client: IncusClient, name: str) -> int:
    """The container's memory use as Incus reports it (its cgroup's)."""
    state = await client.sync("GET", f"/1.0/instances/{name}/state")
    return int(state["memory"]["usage"])


async def measure(count: int, settle: float) -> dict[str, Any]:
    settings = get_settings()
    runtime = build_runtime(settings)
    names = [f"tpmem-{secrets.token_hex(3)}" for _ in range(count)]
    before = available_bytes()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for name in names:
                await runtime.create(
                    InstanceSpec(
                        name, settings.image_alias, memory_mib=settings.workspace_memory_mib
                    )
                )
                await runtime.start(name)
                address = await runtime.wait_for_ipv4(name, timeout=120)
                await wait_for_ide(http, address)
        await asyncio.sleep(settle)
        client = incus_client(settings)
        try:
            used = [await container_memory(client, name) for name in names]
        finally:
            await client.aclose()
        after = available_bytes()
    finally:
        for name in names:
            try:
                await runtime.delete(name)
            except Exception as error:  # (the bench reports it, and goes on)
                print(f"could not delete {name}: {error}", file=sys.stderr)
        await runtime.aclose()
    return {
        "count": count,
        "settle_s": settle,
        "limit_mib": settings.workspace_memory_mib,
        "container_mib": {
            "median": round(statistics.median(used) / MIB, 1),
            "min": round(min(used) / MIB, 1),
            "max": round(max(used) / MIB, 1),
        },
        "host_mib_per_workspace": round((before - after) / count / MIB, 1),
        "host_available_gib_before": round(before / (1 << 30), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--settle", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.count, args.settle)), indent=2))


if __name__ == "__main__":
    main()
