"""Twenty creates at once through the API, as a team's Monday morning: how long until the last
IDE answers, and how many fail.

Prints JSON. A real platform (``tidepool service start``, ``auth = "forward_auth"``, its own
data directory, port and instance prefix, no warm pool) and an API token, as a script would
use them. Each run POSTs ``--count`` creates at once, then waits for every workspace to be
``running`` or ``failed`` (polling the list, once every 0.2 s) and for each running one's
workbench HTML through Caddy (``http://NAME.localhost:PORT/``); a run's time is the moment
the last workbench answered. Beside it, the floor: as many raw Incus launches of the same
image at once (one call each, ``start: true``, Tidepool's profile), each polled until its
own code-server serves the workbench HTML directly. The two alternate which goes first;
between runs every instance is deleted and the host left to settle. Goal (issue 24): 0
failed, the last IDE within 15 s, median of ``--runs`` runs (3).
All traffic goes to loopback and to the instances this bench creates.

    .venv/bin/python bench/burst.py [--count 20] [--runs 3]   (needs ./scripts/up's host)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from churn import new_token, platform_env  # noqa: E402
from startup import PASSWORD, USER, floor_cold, quiet, workbench  # noqa: E402
from support.cli import tidepool  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.users import write_users  # noqa: E402
from tidepool import bootstrap  # noqa: E402
from tidepool.adapters.incus.client import IncusClient  # noqa: E402
from tidepool.loopback import LoopbackNames  # noqa: E402
from tidepool.settings import Settings  # noqa: E402

GOAL_SECONDS = 15.0


async def settle(api: httpx.AsyncClient, names: list[str], began: float) -> dict[str, Any]:
    """Until every workspace is running or failed; when each got there, and why one failed."""
    reached: dict[str, float] = {}
    failed: dict[str, str] = {}
    while len(reached) + len(failed) < len(names):
        listed = (await api.get("/api/workspaces", params={"limit": 500})).json()["items"]
        for item in listed:
            if item["name"] in reached or item["name"] in failed:
                continue
            if item["status"] == "running":
                reached[item["name"]] = time.monotonic() - began
            elif item["status"] == "failed":
                failed[item["name"]] = item.get("error") or "failed"
        await asyncio.sleep(0.2)
    return {"running": reached, "failed": failed}


async def one_run(api: httpx.AsyncClient, http: httpx.AsyncClient, port: int, count: int) -> Any:
    names = [f"bu-{uuid.uuid4().hex[:6]}" for _ in range(count)]
    began = time.monotonic()
    answers = await asyncio.gather(
        *(api.post("/api/workspaces", json={"name": name}) for name in names)
    )
    refused = [a.text for a in answers if a.status_code != 202]
    settled = await settle(api, names, began)

    async def ide(name: str) -> float:
        await workbench(http, f"http://{name}.localhost:{port}/", timeout=300)
        return time.monotonic() - began

    ides = await asyncio.gather(*(ide(name) for name in settled["running"]))
    for name in names:
        await api.delete(f"/api/workspaces/{name}")
    while (await api.get("/api/workspaces")).json()["items"]:
        await asyncio.sleep(0.5)
    return {
        "last_ide_seconds": round(max(ides, default=float("nan")), 2),
        "median_running_seconds": round(statistics.median(settled["running"].values()), 2)
        if settled["running"]
        else None,
        "failed": len(settled["failed"]) + len(refused),
        "errors": list(settled["failed"].values()) + refused,
    }


async def floor_run(client: IncusClient, direct: httpx.AsyncClient, count: int) -> float:
    """``count`` raw launches at once; when the last one's workbench answered directly."""
    began = time.monotonic()
    launched = await asyncio.gather(
        *(floor_cold(client, direct, Settings().image_alias) for _ in range(count))
    )
    last = time.monotonic() - began
    for each in launched:
        stop = {"action": "stop", "force": True}
        await client.run("PUT", f"/1.0/instances/{each['name']}/state", json=stop)
        await client.run("DELETE", f"/1.0/instances/{each['name']}")
    return round(last, 2)


async def measure(count: int, runs: int, data: Path) -> dict[str, Any]:
    port = free_port()
    write_users(data / "users.json", {USER: PASSWORD})
    env = platform_env(data, port)
    env["TIDEPOOL_INSTANCE_PREFIX"] = "tpb"
    started = tidepool("service", "start", env=env)
    if started.returncode != 0:
        raise RuntimeError(f"service start failed: {started.stdout}{started.stderr}")
    token = {"Authorization": f"Bearer {new_token(env)}"}
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=token, timeout=120)
    http = httpx.AsyncClient(transport=LoopbackNames(), headers=token, timeout=60)
    client = bootstrap.incus_client(Settings())
    direct = httpx.AsyncClient(timeout=60)
    results: list[dict[str, Any]] = []
    floors: list[float] = []
    try:
        for run in range(runs):
            for side in ("ours", "floor") if run % 2 == 0 else ("floor", "ours"):
                await quiet()
                if side == "ours":
                    results.append(await one_run(api, http, port, count))
                else:
                    floors.append(await floor_run(client, direct, count))
    finally:
        for each in (api, http, direct, client):
            await each.aclose()
        tidepool("service", "stop", env=env)
    last = [r["last_ide_seconds"] for r in results]
    return {
        "benchmark": "burst",
        "creates": count,
        "runs": results,
        "median_last_ide_seconds": round(statistics.median(last), 2),
        "floor_last_ide_seconds": floors,
        "median_floor_seconds": round(statistics.median(floors), 2),
        "ratio_vs_floor": round(statistics.median(last) / statistics.median(floors), 3),
        "failed": sum(r["failed"] for r in results),
        "goals": {
            "all_ides_within_15_s": statistics.median(last) <= GOAL_SECONDS,
            "within_1_15x_floor": statistics.median(last) / statistics.median(floors) <= 1.15,
            "none_failed": all(r["failed"] == 0 for r in results),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidepool-burst-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        print(json.dumps(asyncio.run(measure(args.count, args.runs, data)), indent=2))


if __name__ == "__main__":
    main()
