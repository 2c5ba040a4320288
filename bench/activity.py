"""What the activity check costs: CPU per workspace per minute, at 50 running workspaces.

Prints JSON. A real platform (``tidepool service start``, its own data directory, port and
instance prefix) runs ``--count`` workspaces, made in batches through the API; its own
activity watch is told to look only once (``activity_interval_seconds`` a day), so the bench
drives the looks itself, through the same ``ActivityWatch`` over the same database. Side by
side, alternating, ``--rounds`` times over ``--seconds`` each:

- ``idle``: nothing is looked at (the baseline: what 50 idle workspaces and incusd cost);
- ``looking``: ``ActivityWatch.look()`` every ``--every`` seconds (2 s, to magnify).

The CPU counted is everything a look makes busy: this process (the probe's ``/proc`` pass,
the rules, the store), incusd (the instance list), and every workspace (code-server answering
``/healthz``), from ``/proc`` and the containers' cgroups. The extra CPU of ``looking`` over
``idle``, per look and per workspace, times the looks a minute at the default interval
(30 s: two), is the cost. All traffic goes to loopback and the instances the bench made.

    .venv/bin/python bench/activity.py [--count 50] [--rounds 3] [--seconds 20] [--every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from churn import new_token, platform_env  # noqa: E402
from startup import PASSWORD, USER  # noqa: E402
from support.cli import tidepool  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.users import write_users  # noqa: E402
from tidepool import bootstrap  # noqa: E402
from tidepool.settings import Settings  # noqa: E402

PREFIX = "tpact"
BATCH = 10
DEFAULT_INTERVAL = 30.0
TICK = os.sysconf("SC_CLK_TCK")
CGROUP_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup"))


def pid_of(name: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return int(entry.name)
            except OSError:
                continue
    return None


def process_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def containers_seconds() -> float:
    """CPU of every container this bench made, from their cgroups (v1 cpuacct or v2)."""
    total = 0.0
    for root in CGROUP_ROOTS:
        for group in root.glob(f"lxc.payload.{PREFIX}-*"):
            usage = group / "cpuacct.usage"
            if usage.exists():
                total += int(usage.read_text()) / 1e9
                continue
            stat = group / "cpu.stat"
            if stat.exists():
                line = next(x for x in stat.read_text().splitlines() if x.startswith("usage_usec"))
                total += int(line.split()[1]) / 1e6
        if total:
            return total
    return total


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_now(incusd: int | None) -> dict[str, float]:
    return {
        "bench": own_seconds(),
        "incusd": process_seconds(incusd),
        "workspaces": containers_seconds(),
    }


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


async def make(api: httpx.AsyncClient, count: int) -> list[str]:
    names = [f"act-{i:03d}" for i in range(count)]
    for start in range(0, count, BATCH):
        batch = names[start : start + BATCH]
        for name in batch:
            (await api.post("/api/workspaces", json={"name": name})).raise_for_status()
        while True:
            items = (await api.get("/api/workspaces", params={"limit": 500})).json()["items"]
            states = {i["name"]: i["status"] for i in items if i["name"] in batch}
            if any(s == "failed" for s in states.values()):
                raise RuntimeError(f"a create failed: {states}")
            if all(s == "running" for s in states.values()) and len(states) == len(batch):
                break
            await asyncio.sleep(1)
    return names


async def phase(app: Any, looking: bool, seconds: float, every: float, incusd: int | None) -> Any:
    before, looks, began = cpu_now(incusd), 0, time.monotonic()
    while time.monotonic() - began < seconds:
        if looking:
            await app.activity.look()
            looks += 1
        await asyncio.sleep(every)
    return spent(before, cpu_now(incusd)), looks


async def measure(count: int, rounds: int, seconds: float, every: float, data: Path) -> Any:
    port = free_port()
    write_users(data / "users.json", {USER: PASSWORD})
    env = platform_env(data, port)
    env |= {
        "TIDEPOOL_INSTANCE_PREFIX": PREFIX,
        "TIDEPOOL_ACTIVITY_INTERVAL_SECONDS": "86400",
        "TIDEPOOL_IDLE_TIMEOUT_MINUTES": "0",
        "TIDEPOOL_WORKSPACE_MEMORY_MIB": "512",
    }
    if tidepool("service", "start", env=env).returncode != 0:
        raise RuntimeError("service start failed")
    token = {"Authorization": f"Bearer {new_token(env)}"}
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=token, timeout=120)
    settings = Settings(
        data_dir=data,
        database_url=env["TIDEPOOL_DATABASE_URL"],
        instance_prefix=PREFIX,
        idle_timeout_minutes=0,
    )
    incusd = pid_of("incusd")
    extra: list[float] = []
    samples: list[dict[str, Any]] = []
    try:
        names = await make(api, count)
        async with bootstrap.build(settings) as app:
            await app.activity.look()  # warm: imports, connections, the first /proc pass
            if len(app.activity.board()) != count:
                raise RuntimeError(f"looked at {len(app.activity.board())} of {count}")
            for n in range(rounds):
                order = (False, True) if n % 2 == 0 else (True, False)
                got = {}
                for looking in order:
                    got[looking] = await phase(app, looking, seconds, every, incusd)
                (idle, _), (busy, looks) = got[False], got[True]
                over = {k: busy[k] - idle[k] for k in busy}
                per_look = sum(over.values()) / looks
                extra.append(per_look)
                samples.append({"idle": idle, "looking": busy, "looks": looks})
    finally:
        for name in [f"act-{i:03d}" for i in range(count)]:
            await api.delete(f"/api/workspaces/{name}")
        for _ in range(600):
            if not (await api.get("/api/workspaces", params={"limit": 500})).json()["items"]:
                break
            await asyncio.sleep(0.5)
        await api.aclose()
        tidepool("service", "stop", env=env)
    per_look = statistics.median(extra)
    looks_a_minute = 60 / DEFAULT_INTERVAL
    return {
        "benchmark": "activity",
        "workspaces": len(names),
        "rounds": rounds,
        "seconds": seconds,
        "every": every,
        "cpu_seconds_per_look": round(per_look, 4),
        "cpu_ms_per_workspace_per_minute": round(per_look / count * looks_a_minute * 1000, 3),
        "share_of_one_core": round(per_look * looks_a_minute / 60, 5),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidepool-activity-") as tmp:
        result = asyncio.run(measure(args.count, args.rounds, args.seconds, args.every, Path(tmp)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
