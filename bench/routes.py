"""How long adding and removing one workspace's route takes as the table grows.

Prints JSON. For each size (1, 100, 1,000, 10,000 routed workspaces) it times adding one more
route and removing it again, for Tidepool's shape (a file per workspace in the routes
directory, read by Caddy per request: no config change at all) and, side by side on the same
machine, for the baseline shape (a full route per workspace: subroute, redirect, rewrite,
proxy; every change a reload). At 10,000 it also measures requests per second through Caddy
for both shapes. Everything runs on loopback.

    .venv/bin/python bench/routes.py [--sizes 1,100,1000,10000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from _caddy import free_port, median_ms, private_caddy, static_upstream, throughput
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config
from tidepool.adapters.caddy.routes import CaddyRouteTable

UPSTREAM = "127.0.0.50"


def _address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def full_route(name: str, address: str, port: int) -> dict[str, Any]:
    """The baseline: one complete route per workspace, as a naive design would have it."""
    prefix = f"/workspace/{name}"
    return {
        "@id": f"full-{name}",
        "match": [{"path": [prefix, f"{prefix}/*"]}],
        "handle": [
            {
                "handler": "subroute",
                "routes": [
                    {
                        "match": [{"path": [prefix]}],
                        "handle": [
                            {
                                "handler": "static_response",
                                "status_code": 308,
                                "headers": {"Location": [f"{prefix}/"]},
                            }
                        ],
                    },
                    {
                        "handle": [
                            {"handler": "rewrite", "strip_path_prefix": prefix},
                            config.proxy(f"{address}:{port}"),
                        ]
                    },
                ],
            }
        ],
        "terminal": True,
    }


async def bench_files(process: CaddyProcess, size: int, repeat: int) -> dict[str, float]:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await ensure_base_config(admin, process.options)
    table = CaddyRouteTable(process.options.routes_dir)
    for i in range(size):
        await table.add(f"ws{i}", _address(i))
    adds, removes = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        await table.add("bench-new", "127.0.0.99")
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        await table.remove("bench-new")
        removes.append(time.perf_counter() - started)
    await admin.aclose()
    return {"add_ms": median_ms(adds), "remove_ms": median_ms(removes)}


async def bench_full(process: CaddyProcess, size: int, repeat: int) -> dict[str, float]:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    port = process.options.workspace_port
    base = config.base_config(process.options)
    server = base["apps"]["http"]["servers"][config.SERVER_NAME]
    server["routes"] = [full_route(f"ws{i}", _address(i), port) for i in range(size)] + [
        {"handle": [config.NOT_FOUND]}
    ]
    await admin.load(base)
    path = f"/config/apps/http/servers/{config.SERVER_NAME}/routes/0"
    adds, removes = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        # PUT to an index inserts before it, the way a new route must precede the fallback.
        await admin._send("PUT", path, full_route("bench-new", "127.0.0.99", port))
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        await admin.delete("/id/full-bench-new")
        removes.append(time.perf_counter() - started)
    await admin.aclose()
    return {"add_ms": median_ms(adds), "remove_ms": median_ms(removes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    upstream_port = free_port()
    results: dict[str, Any] = {"benchmark": "routes", "sizes": {}}
    with static_upstream(UPSTREAM, upstream_port):
        for size in sizes:
            row: dict[str, Any] = {}
            for shape, runner in (("files", bench_files), ("full_routes", bench_full)):
                port = free_port()
                with private_caddy(f"127.0.0.1:{port}", upstream_port) as process:
                    repeat = args.repeat if size < 10_000 or shape == "files" else 3
                    row[shape] = asyncio.run(runner(process, size, repeat))
                    if size == max(sizes):
                        last = size - 1
                        if shape == "files":
                            asyncio.run(_route_last_to_upstream(process, last))
                        path = f"/workspace/ws{last}/"
                        row[shape]["requests_per_second"] = round(
                            _throughput_to(
                                port, path, last, shape, args.seconds, upstream_port, process
                            ),
                            1,
                        )
            row["add_ratio_files_vs_full"] = round(
                row["files"]["add_ms"] / row["full_routes"]["add_ms"], 4
            )
            results["sizes"][str(size)] = row
            print(json.dumps({"size": size, **row}), flush=True)
    print(json.dumps(results, indent=2))


async def _route_last_to_upstream(process: CaddyProcess, last: int) -> None:
    await CaddyRouteTable(process.options.routes_dir).add(f"ws{last}", UPSTREAM)


def _throughput_to(
    port: int,
    path: str,
    last: int,
    shape: str,
    seconds: float,
    upstream_port: int,
    process: CaddyProcess,
) -> float:
    if shape == "full_routes":
        asyncio.run(_point_full_route(process, last, upstream_port))
    return throughput("127.0.0.1", port, path, seconds)


async def _point_full_route(process: CaddyProcess, last: int, upstream_port: int) -> None:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await admin._send(
        "PATCH", f"/id/full-ws{last}", full_route(f"ws{last}", UPSTREAM, upstream_port)
    )
    await admin.aclose()


if __name__ == "__main__":
    main()
