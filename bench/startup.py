"""Cold create and stop→start to IDE-ready through Caddy, beside their floor, split by phase.

Tidepool's path: the control plane's own steps (``bootstrap.build``): the workspace's row,
the reconciler's boot (create, push the workspace env file, start, IPv4), then the rest of the
reconcile (code-server healthy, route added), and the workbench answering through Caddy.
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
from tidepool.bootstrap import Tidepool
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime
from tidepool.services.ide import wait_for_ide
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


async def tidepool_up(app: Tidepool, http: httpx.AsyncClient, name: str) -> dict[str, float]:
    """From the request to the workbench through Caddy, by the control plane's steps."""
    started = time.monotonic()
    workspace = await app.by_hand.start(validate_workspace_name(name))
    phases = {"booted": time.monotonic() - started}
    await app.reconciler.reconcile(workspace.id)
    phases["running"] = time.monotonic() - started
    await until_ok(http, app.settings.workspace_url(name))
    phases["ide_ready_through_caddy"] = time.monotonic() - started
    return phases


async def tidepool_restart(app: Tidepool, http: httpx.AsyncClient, name: str) -> dict[str, float]:
    await app.by_hand.stop(validate_workspace_name(name))
    return await tidepool_up(app, http, name)


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
    async with bootstrap.build(settings) as app, httpx.AsyncClient() as http:
        runtime = app.runtime
        for _ in range(runs):
            ours, raw = f"bench-{uuid.uuid4().hex[:6]}", f"bench-raw-{uuid.uuid4().hex[:6]}"
            try:
                # Alternate which goes first so neither always meets a warmer machine.
                results["floor_cold"].append(await floor_cold(settings, client, runtime, http, raw))
                results["tidepool_cold"].append(await tidepool_up(app, http, ours))
                results["tidepool_restart"].append(await tidepool_restart(app, http, ours))
                results["floor_restart"].append(await floor_restart(client, runtime, http, raw))
            finally:
                with contextlib.suppress(NotFoundError):
                    await app.by_hand.delete(validate_workspace_name(ours))
                with contextlib.suppress(NotFoundError):
                    await runtime.delete(raw)
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
