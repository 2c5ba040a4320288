"""A create, a stop and a start as a user sees them, beside their floors on the same image.

Prints JSON. A real platform (``tidepool service start``, ``auth = "forward_auth"``, its own
data directory, port and instance prefix) and an API token, as a script would use them:

- **cold create**: ``POST /api/workspaces`` until the workbench HTML answers on the
  workspace's origin through Caddy (``http://NAME.localhost:PORT/``, redirects followed),
  with the token, asked once the workspace's event stream says ``running`` (as the web app
  learns it); the stream's start-up phases show where the time goes;
- **floor**: a raw Incus launch of the same image (one REST call with ``start: true``,
  Tidepool's profile) polled until its own code-server serves the workbench HTML directly
  (``http://ADDRESS:8080/``);
- **pooled create**: the same, of template ``pooled``, which keeps one instance warm
  (``pool_size = 1``; 1 MiB less memory than ``default``, so that no cold create can take
  from it). Each round waits for the pool to be refilled before it measures anything, so
  the refill never runs beside a measurement;
- **stop** and **start**: ``POST /api/workspaces/NAME/stop`` until ``stopped``, then
  ``.../start`` until the workbench answers through Caddy, beside ``incus stop`` and
  ``incus start`` (the state API) polled to the workbench directly;
- **fork**: ``POST /api/workspaces/NAME/fork`` of that running workspace until the fork's
  workbench answers through Caddy, beside the cold create of the same round (issue 29's
  goal: at most 1.2x a cold create).

Each round runs every side, alternating their order, each once the host is quiet
(``quiet``); medians of ``--runs`` rounds (5).
Goals (issue 24): cold and start each at most 1.15x their floor, pooled at most 0.3 s; fork
(issue 29) at most 1.2x cold. A delete keeps a workspace's home for undelete: the bench
deletes the homes its workspaces left, and its pool, at the end. All
traffic goes to loopback and to the instances this bench creates.

    .venv/bin/python bench/startup.py [--runs 5] [--no-home-volumes] [--pooled-only]
        (needs ./scripts/up's host and image; --pooled-only: the pooled side alone)
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from churn import new_token, platform_env  # noqa: E402
from support.cli import tidepool  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.users import write_users  # noqa: E402
from tidepool import bootstrap  # noqa: E402
from tidepool.adapters.incus.client import IncusClient  # noqa: E402
from tidepool.adapters.incus.runtime import (  # noqa: E402
    INSTALLATION_KEY,
    MANAGED_KEY,
    WORKSPACE_KEY,
)
from tidepool.client import ApiClient  # noqa: E402
from tidepool.domain.ide import WORKSPACE_PORT  # noqa: E402
from tidepool.domain.pool import POOL_MARK  # noqa: E402
from tidepool.installation import installation_id  # noqa: E402
from tidepool.loopback import LoopbackNames  # noqa: E402
from tidepool.settings import Settings  # noqa: E402

USER, PASSWORD = "churn", "churn-password-1"
POLL = 0.05
GOAL = 1.15
POOLED_GOAL = 0.3
FORK_GOAL = 1.2
#: Each side starts once the host is this idle over a half second, twice in a row (or after
#: ``QUIET_WAIT`` seconds): an instance that just answered (the previous side's, the pool's
#: refill) goes on starting its other services for several seconds.
QUIET_IDLE = 0.85
QUIET_WAIT = 30.0
#: Template ``pooled``: one instance kept warm, a size no cold create asks for.
POOLED_MEMORY_MIB = 1023
POOLED_TEMPLATE = {"name": "pooled", "memory_mib": POOLED_MEMORY_MIB, "pool_size": 1}


async def workbench(http: httpx.AsyncClient, url: str, timeout: float = 180) -> None:
    """Until ``url`` answers the workbench page (200 after redirects, code-server's HTML)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = await http.get(url, follow_redirects=True)
            if answer.status_code == 200 and "vscode-workbench" in answer.text:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        await asyncio.sleep(POLL)


async def follow(api: httpx.AsyncClient, name: str, until: str) -> dict[str, str]:
    """The workspace's event stream, as the web app follows it, until status ``until``:
    each start-up phase with the time the control plane measured for it."""
    phases: dict[str, str] = {}
    async with api.stream("GET", f"/api/workspaces/{name}/events", timeout=None) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line.removeprefix("data: "))
            if event["kind"] == "phase":
                phases[event["value"]] = event["detail"]
            if event["kind"] == "status" and event["value"] in (until, "failed"):
                phases[event["value"]] = "reached"
                return phases
    return phases


async def ours_cold(
    api: httpx.AsyncClient, http: httpx.AsyncClient, port: int, template: str = "default"
) -> dict[str, Any]:
    """POST, then the event stream until ``running`` (no polling: the measurement does not
    load the control plane), then the workbench through Caddy."""
    name = f"st-{uuid.uuid4().hex[:6]}"
    began = time.monotonic()
    body = {"name": name, "template": template}
    (await api.post("/api/workspaces", json=body)).raise_for_status()
    phases = await follow(api, name, "running")
    phases["running_seen"] = f"{time.monotonic() - began:.2f}s"
    await workbench(http, f"http://{name}.localhost:{port}/")
    return {"name": name, "seconds": time.monotonic() - began, "phases": phases}


async def ours_fork(
    api: httpx.AsyncClient, http: httpx.AsyncClient, port: int, source: str
) -> dict[str, Any]:
    """POST a fork of the running ``source``, then as ``ours_cold`` until its workbench."""
    name = f"st-{uuid.uuid4().hex[:6]}"
    began = time.monotonic()
    (await api.post(f"/api/workspaces/{source}/fork", json={"name": name})).raise_for_status()
    phases = await follow(api, name, "running")
    await workbench(http, f"http://{name}.localhost:{port}/")
    return {"name": name, "seconds": time.monotonic() - began, "phases": phases}


async def ours_stop_start(
    api: httpx.AsyncClient, http: httpx.AsyncClient, port: int, name: str
) -> tuple[float, float]:
    began = time.monotonic()
    (await api.post(f"/api/workspaces/{name}/stop")).raise_for_status()
    await follow(api, name, "stopped")
    stopped = time.monotonic() - began
    began = time.monotonic()
    (await api.post(f"/api/workspaces/{name}/start")).raise_for_status()
    await follow(api, name, "running")
    await workbench(http, f"http://{name}.localhost:{port}/")
    return stopped, time.monotonic() - began


async def address_of(client: IncusClient, name: str) -> str:
    while True:
        state = await client.run("GET", f"/1.0/instances/{name}/state")
        for nic, details in (state.get("network") or {}).items():
            if nic == "lo":
                continue
            for address in details.get("addresses", []):
                if address.get("family") == "inet":
                    return str(address["address"])
        await asyncio.sleep(POLL)


async def floor_cold(client: IncusClient, http: httpx.AsyncClient, alias: str) -> dict[str, Any]:
    name = f"st-raw-{uuid.uuid4().hex[:6]}"
    began = time.monotonic()
    await client.run(
        "POST",
        "/1.0/instances",
        json={
            "name": name,
            "type": "container",
            "profiles": [Settings().incus_profile],
            "start": True,
            "source": {"type": "image", "alias": alias},
            "config": {MANAGED_KEY: "true"},
        },
        timeout=300,
    )
    address = await address_of(client, name)
    addressed = time.monotonic() - began
    await workbench(http, f"http://{address}:{WORKSPACE_PORT}/")
    return {"name": name, "seconds": time.monotonic() - began, "ipv4": addressed}


async def floor_stop_start(
    client: IncusClient, http: httpx.AsyncClient, name: str
) -> tuple[float, float]:
    began = time.monotonic()
    await client.run("PUT", f"/1.0/instances/{name}/state", json={"action": "stop"})
    stopped = time.monotonic() - began
    began = time.monotonic()
    await client.run("PUT", f"/1.0/instances/{name}/state", json={"action": "start"})
    address = await address_of(client, name)
    await workbench(http, f"http://{address}:{WORKSPACE_PORT}/")
    return stopped, time.monotonic() - began


async def pool_ready(host: ApiClient, timeout: float = 180) -> None:
    """Until the warm pool has its instance ready (the host's socket: an admin's view)."""
    deadline = time.monotonic() + timeout
    while not all(pool["ready"] >= pool["size"] for pool in (await host.pool())["items"]):
        if time.monotonic() > deadline:
            raise TimeoutError("the warm pool was not refilled")
        await asyncio.sleep(0.2)


async def drop_pool(client: IncusClient, installation: str) -> None:
    """Delete what this bench's warm pool left waiting (a stopped platform keeps its pool)."""
    for item in await client.sync("GET", "/1.0/instances", params={"recursion": "1"}):
        config = item.get("config") or {}
        mark = str(config.get(WORKSPACE_KEY, ""))
        if config.get(INSTALLATION_KEY) == installation and mark.startswith(POOL_MARK):
            stop = {"action": "stop", "force": True}
            await client.run("PUT", f"/1.0/instances/{item['name']}/state", json=stop)
            await client.run("DELETE", f"/1.0/instances/{item['name']}")


async def drop_homes(client: IncusClient, installation: str) -> None:
    """Delete the home volumes this bench's workspaces left (a delete keeps one, with its
    snapshot, for undelete)."""
    volumes = "/1.0/storage-pools/tidepool/volumes/custom"
    for item in await client.sync("GET", volumes, params={"recursion": "1"}) or []:
        ours = (item.get("config") or {}).get(INSTALLATION_KEY) == installation
        if ours and "/" not in item["name"]:  # (a snapshot goes with its volume)
            await client.run("DELETE", f"{volumes}/{item['name']}")


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of every CPU together, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


async def quiet() -> None:
    """Until the host is idle (``QUIET_IDLE``) for two half-seconds in a row."""
    deadline = time.monotonic() + QUIET_WAIT
    calm = 0
    while calm < 2 and time.monotonic() < deadline:
        idle, total = cpu_times()
        await asyncio.sleep(0.5)
        idle2, total2 = cpu_times()
        calm = calm + 1 if (idle2 - idle) / max(1, total2 - total) >= QUIET_IDLE else 0


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


async def measure(
    runs: int, data: Path, home_volumes: bool = True, pooled_only: bool = False
) -> dict[str, Any]:
    port = free_port()
    write_users(data / "users.json", {USER: PASSWORD})
    env = platform_env(data, port)
    env["TIDEPOOL_HOME_VOLUMES"] = str(home_volumes).lower()
    env["TIDEPOOL_INSTANCE_PREFIX"] = "tps"
    env["TIDEPOOL_TEMPLATES"] = json.dumps([POOLED_TEMPLATE])
    started = tidepool("service", "start", env=env)
    if started.returncode != 0:
        raise RuntimeError(f"service start failed: {started.stdout}{started.stderr}")
    token = {"Authorization": f"Bearer {new_token(env)}"}
    client = bootstrap.incus_client(Settings())
    alias = Settings().image_alias
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=token, timeout=60)
    http = httpx.AsyncClient(transport=LoopbackNames(), headers=token, timeout=30)
    direct = httpx.AsyncClient(timeout=30)
    host = ApiClient.connect(socket=data / "api.sock")
    keys = (
        "cold",
        "pooled",
        "floor",
        "floor_ipv4",
        "stop",
        "floor_stop",
        "start",
        "floor_start",
        "fork",
    )
    rows: dict[str, list[float]] = {key: [] for key in keys}
    phases: list[dict[str, str]] = []
    pooled_phases: list[dict[str, str]] = []
    made: list[str] = []

    async def pooled() -> None:
        await pool_ready(host)
        taken = await ours_cold(api, http, port, template="pooled")
        made.append(taken["name"])
        rows["pooled"].append(taken["seconds"])
        pooled_phases.append(taken["phases"])
        await pool_ready(host)

    async def ours() -> None:
        cold = await ours_cold(api, http, port)
        made.append(cold["name"])
        rows["cold"].append(cold["seconds"])
        phases.append(cold["phases"])
        stop, start = await ours_stop_start(api, http, port, cold["name"])
        rows["stop"].append(stop)
        rows["start"].append(start)

    async def floor() -> None:
        raw = await floor_cold(client, direct, alias)
        made.append(raw["name"])
        rows["floor"].append(raw["seconds"])
        rows["floor_ipv4"].append(raw["ipv4"])
        stop, start = await floor_stop_start(client, direct, raw["name"])
        rows["floor_stop"].append(stop)
        rows["floor_start"].append(start)

    async def ours_and_fork() -> None:
        await ours()
        if home_volumes:
            await quiet()
            fork = await ours_fork(api, http, port, made[-1])
            made.append(fork["name"])
            rows["fork"].append(fork["seconds"])

    sides: tuple[Callable[[], Awaitable[None]], ...] = (
        (pooled,) if pooled_only else (ours_and_fork, floor, pooled)
    )
    try:
        await pool_ready(host)
        for round_ in range(runs):
            for side in sides if round_ % 2 == 0 else tuple(reversed(sides)):
                await quiet()
                await side()
    finally:
        for name in made:
            if name.startswith("st-raw-"):
                stop = {"action": "stop", "force": True}
                await client.run("PUT", f"/1.0/instances/{name}/state", json=stop)
                await client.run("DELETE", f"/1.0/instances/{name}")
            else:
                await api.delete(f"/api/workspaces/{name}")
        while (await api.get("/api/workspaces")).json()["items"]:
            await asyncio.sleep(0.5)
        tidepool("service", "stop", env=env)
        await drop_pool(client, installation_id(data))
        await drop_homes(client, installation_id(data))
        for each in (api, http, direct, client, host):
            await each.aclose()
    medians = {key: median(values) for key, values in rows.items() if values}
    measured = {
        "benchmark": "startup",
        "runs": runs,
        "median_seconds": medians,
        "samples": {key: [round(v, 3) for v in values] for key, values in rows.items()},
        "home_volumes": home_volumes,
        "pooled_phases": pooled_phases,
    }
    if pooled_only:
        return {**measured, "goals": {"pooled_at_most_0_3_s": medians["pooled"] <= POOLED_GOAL}}
    return {
        **measured,
        # Each cold create's start-up phases, as the control plane timed them.
        "cold_phases": phases,
        "ratio_cold_vs_floor": round(medians["cold"] / medians["floor"], 3),
        "ratio_start_vs_floor": round(medians["start"] / medians["floor_start"], 3),
        "ratio_stop_vs_floor": round(medians["stop"] / medians["floor_stop"], 3),
        **(
            {"ratio_fork_vs_cold": round(medians["fork"] / medians["cold"], 3)}
            if home_volumes
            else {}
        ),
        "goals": {
            "pooled_at_most_0_3_s": medians["pooled"] <= POOLED_GOAL,
            "cold_at_most_1_15x_floor": medians["cold"] / medians["floor"] <= GOAL,
            "start_at_most_1_15x_floor": medians["start"] / medians["floor_start"] <= GOAL,
            **(
                {"fork_at_most_1_2x_cold": medians["fork"] / medians["cold"] <= FORK_GOAL}
                if home_volumes
                else {}
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-home-volumes",
        action="store_true",
        help="Home in the root filesystem (home_volumes = false): what volumes cost a create.",
    )
    parser.add_argument(
        "--pooled-only",
        action="store_true",
        help="Only pooled creates (many rounds cheaply: what the pool's hand-over costs).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidepool-startup-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        measured = measure(
            args.runs, data, home_volumes=not args.no_home_volumes, pooled_only=args.pooled_only
        )
        print(json.dumps(asyncio.run(measured), indent=2))


if __name__ == "__main__":
    main()
