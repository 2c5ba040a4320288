"""Static-asset throughput through Caddy with sign-in and ownership on, beside it off.

Prints JSON. Three Caddy processes side by side, each routing 1,000 workspaces, with the same
static upstream (a second Caddy serving a 512-byte body) and the same request
(``/workspace/ws0/static/app.js``): ``none`` (no auth), ``basic`` (Caddy's basic_auth with its
hash cache, and the owner check on every request: the multi-user mode). wrk (2 threads,
16 connections) runs against each in turn, alternating, ``--rounds`` times; the medians are
compared. Everything runs on loopback.

    apt-get install -y wrk
    .venv/bin/python bench/proxy.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import bcrypt

from _caddy import free_port, static_upstream, wrk_rps
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, wait_until_serving

UPSTREAM = "127.0.0.50"
USER, PASSWORD = "ann", "bench-password"


async def configure(process: CaddyProcess, workspaces: int) -> None:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await wait_until_serving(admin)
    routes = {f"ws{i}": f"127.1.{i // 250}.{i % 250 + 1}" for i in range(workspaces)}
    routes["ws0"] = UPSTREAM
    owners = dict.fromkeys(routes, USER)
    await admin.load(config.base_config(process.options, routes, owners))
    await admin.aclose()


def wrk(port: int, seconds: float, headers: dict[str, str]) -> float:
    return wrk_rps(f"http://127.0.0.1:{port}/workspace/ws0/static/app.js", seconds, headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workspaces", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    upstream_port = free_port()
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    shapes: dict[str, tuple[tuple[tuple[str, str], ...] | None, dict[str, str]]] = {
        "none": (None, {}),
        "basic": (((USER, password_hash),), {"Authorization": f"Basic {credentials}"}),
    }
    samples: dict[str, list[float]] = {name: [] for name in shapes}
    with static_upstream(UPSTREAM, upstream_port), contextlib.ExitStack() as stack:
        processes: dict[str, CaddyProcess] = {}
        for name, (users, _) in shapes.items():
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            options = config.CaddyOptions(
                admin_socket=directory / "admin.sock",
                storage_dir=directory / "storage",
                listen=f"127.0.0.1:{free_port()}",
                workspace_port=upstream_port,
                users=users,
            )
            process = CaddyProcess(options, directory)
            process.start()
            stack.callback(process.stop)
            asyncio.run(configure(process, args.workspaces))
            processes[name] = process
        for name, process in processes.items():  # warm up (and fill the hash cache)
            wrk(int(process.options.listen.rsplit(":", 1)[1]), 1, shapes[name][1])
        for _ in range(args.rounds):
            for name, process in processes.items():
                port = int(process.options.listen.rsplit(":", 1)[1])
                samples[name].append(wrk(port, args.seconds, shapes[name][1]))
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    result: dict[str, Any] = {
        "benchmark": "proxy",
        "workspaces_routed": args.workspaces,
        "requests_per_second": medians,
        "samples": samples,
        "ratio_basic_vs_none": round(medians["basic"] / medians["none"], 3),
        "targets": {"basic_and_multi_user_vs_none": 0.95},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
