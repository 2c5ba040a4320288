"""Cold create and stop→start to IDE-ready through Caddy, beside their floor, split by phase.

Tidepool's path: ``start_instance`` (create, push the workspace env file, start, IPv4),
code-server healthy, route added, the workbench answering through Caddy on :8080.
The floor, measured in the same run on the same image: a raw Incus launch (one REST call with
``start: true``) polled to IPv4, plus code-server's own time from a service restart to healthy.

    .venv/bin/python bench/startup.py [--runs 3]

Needs ``tidepool host init``, ``tidepool image build`` and ``tidepool caddy bootstrap``.
Traffic goes only to loopback and to the instances this benchmark creates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import uuid
from typing import Any

import httpx

from tidepool import bootstrap
from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.runtime import MANAGED_KEY
from tidepool.errors import NotFoundError
from tidepool.ports import RouteTable, Runtime
from tidepool.services.ide import wait_for_ide
from tidepool.services.instances import start_instance
from tidepool.settings import Settings, get_settings


async def until_ok(http: httpx.AsyncClient, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await http.get(url, follow_redirects=True)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        await asyncio.sleep(0.05)


async def tidepool_cold(
    settings: Settings, runtime: Runtime, routes: RouteTable, http: httpx.AsyncClient, name: str
) -> dict[str, float]:
    started = time.monotonic()
    result = await start_instance(runtime, name, bootstrap.instance_defaults(settings))
    phases = dict(result.phases)
    await wait_for_ide(http, result.address, timeout=120)
    phases["ide_healthy"] = time.monotonic() - started
    await routes.add(name, result.address)
    await until_ok(http, settings.workspace_url(name))
    phases["ide_ready_through_caddy"] = time.monotonic() - started
    return phases


async def tidepool_restart(
    settings: Settings, runtime: Runtime, http: httpx.AsyncClient, name: str
) -> dict[str, float]:
    await runtime.stop(name)
    started = time.monotonic()
    result = await start_instance(runtime, name, bootstrap.instance_defaults(settings))
    phases = {"booted": time.monotonic() - started}
    await wait_for_ide(http, result.address, timeout=120)
    phases["ide_healthy"] = time.monotonic() - started
    await until_ok(http, settings.workspace_url(name))
    phases["ide_ready_through_caddy"] = time.monotonic() - started
    return phases


async def raw_ipv4(client: IncusClient, runtime: Runtime, name: str) -> None:
    while not (await runtime.state(name)).ipv4:
        await asyncio.sleep(0.05)


async def floor_cold(
    settings: Settings, client: IncusClient, runtime: Runtime, http: httpx.AsyncClient, name: str
) -> dict[str, float]:
    """A raw Incus launch to IPv4, plus code-server's own start-up time."""
    started = time.monotonic()
    await client.run(
        "POST",
        "/1.0/instances",
        json={
            "name": name,
            "type": "container",
            "profiles": ["tidepool"],
            "start": True,
            "source": {"type": "image", "alias": settings.image_alias},
            "config": {MANAGED_KEY: "true"},
        },
        timeout=300,
    )
    await raw_ipv4(client, runtime, name)
    launch = time.monotonic() - started
    ide = await code_server_own_time(runtime, http, name)
    return {"launch_to_ipv4": launch, "code_server_to_workbench": ide, "total": launch + ide}


async def floor_restart(
    client: IncusClient, runtime: Runtime, http: httpx.AsyncClient, name: str
) -> dict[str, float]:
    await client.run("PUT", f"/1.0/instances/{name}/state", json={"action": "stop"})
    started = time.monotonic()
    await client.run("PUT", f"/1.0/instances/{name}/state", json={"action": "start"})
    await raw_ipv4(client, runtime, name)
    launch = time.monotonic() - started
    ide = await code_server_own_time(runtime, http, name)
    return {"start_to_ipv4": launch, "code_server_to_workbench": ide, "total": launch + ide}


async def code_server_own_time(runtime: Runtime, http: httpx.AsyncClient, name: str) -> float:
    """code-server's own time from a fresh service start to serving the workbench page.

    The same finish line as Tidepool's path (the workbench HTML answers), minus Caddy.
    """
    address = (await runtime.state(name)).ipv4
    assert address
    await wait_for_ide(http, address, timeout=120)
    await runtime.exec(name, ["systemctl", "stop", "code-server"])
    started = time.monotonic()
    await runtime.exec(name, ["systemctl", "start", "code-server"])
    await until_ok(http, f"http://{address}:8080/")
    return time.monotonic() - started


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]}


async def main(runs: int) -> dict[str, Any]:
    settings = get_settings()
    client = bootstrap.incus_client(settings)
    results: dict[str, list[dict[str, float]]] = {
        "tidepool_cold": [],
        "floor_cold": [],
        "tidepool_restart": [],
        "floor_restart": [],
    }
    async with (
        bootstrap.opened_runtime(settings) as runtime,
        bootstrap.opened_route_table(settings) as routes,
        httpx.AsyncClient() as http,
    ):
        for _ in range(runs):
            ours, raw = f"bench-{uuid.uuid4().hex[:6]}", f"bench-raw-{uuid.uuid4().hex[:6]}"
            try:
                # Alternate which goes first so neither always meets a warmer machine.
                results["floor_cold"].append(await floor_cold(settings, client, runtime, http, raw))
                results["tidepool_cold"].append(
                    await tidepool_cold(settings, runtime, routes, http, ours)
                )
                results["tidepool_restart"].append(
                    await tidepool_restart(settings, runtime, http, ours)
                )
                results["floor_restart"].append(await floor_restart(client, runtime, http, raw))
            finally:
                for name in (ours, raw):
                    with contextlib.suppress(NotFoundError):  # the floor has no route
                        await routes.remove(name)
                    await runtime.delete(name)
    await client.aclose()
    medians = {key: summary(samples) for key, samples in results.items()}
    return {
        "benchmark": "startup",
        "runs": runs,
        "median_seconds": medians,
        "ratio_cold_vs_floor": round(
            medians["tidepool_cold"]["ide_ready_through_caddy"] / medians["floor_cold"]["total"], 3
        ),
        "ratio_restart_vs_floor": round(
            medians["tidepool_restart"]["ide_ready_through_caddy"]
            / medians["floor_restart"]["total"],
            3,
        ),
        "target_ratio": 1.2,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    print(json.dumps(asyncio.run(main(parser.parse_args().runs)), indent=2))
