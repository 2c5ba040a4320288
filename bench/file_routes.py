"""A route shape with no reload at all, measured against Tidepool's ``map`` in the same run.

Prints JSON. The candidate (not yet Tidepool's shape; see "Known limit" in
docs/architecture.md): a directory per workspace under a routes directory, holding one empty
file named ``{address}@{owner}``. Caddy's ``file`` matcher expands ``/{name}/*`` at request
time and a ``vars_regexp`` takes the address out of the file's name, so adding a workspace
is a ``mkdir`` and a file, with Caddy's config untouched.

For ``--size`` routed workspaces (default 10,000) it reports, for this shape and for the map:
the time to add and to remove one workspace, requests per second to the last workspace, and
the requests that failed while ``--changes`` workspaces were added under four looping
clients (plain, kept-alive, no retries). Everything runs on loopback.

    .venv/bin/python bench/file_routes.py [--size 10000] [--changes 30] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from _caddy import free_port, median_ms, private_caddy, static_upstream, throughput
from reload import load
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config
from tidepool.adapters.caddy.routes import CaddyRouteTable

UPSTREAM = "127.0.0.52"
REPEAT = 15
INTERVAL = 0.05


def _address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def file_shape_routes(routes_dir: Path, port: int) -> list[dict[str, Any]]:
    """Tidepool's workspace route (no sign-in) with the lookup done by the file matcher."""
    name = f"^/workspace/({config.NAME_PATTERN})/"
    lookup = {
        "match": [{"file": {"root": str(routes_dir), "try_files": ["/{http.vars.tidepool_ws}/*"]}}],
        "handle": [{"handler": "vars", "tidepool_route": "{http.matchers.file.relative}"}],
    }
    entry = {"name": "rt", "pattern": r"^/[^/]+/([0-9.]+)@([a-z0-9_.-]*)$"}
    proxied = {
        "match": [{"vars_regexp": {"{http.vars.tidepool_route}": entry}}],
        "handle": [
            {"handler": "rewrite", "strip_path_prefix": "/workspace/{http.vars.tidepool_ws}"},
            config.proxy(f"{{http.regexp.rt.1}}:{port}"),
        ],
        "terminal": True,
    }
    return [
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": name}}],
            "handle": [
                {"handler": "vars", "tidepool_ws": "{http.regexp.ws.1}"},
                {
                    "handler": "subroute",
                    "routes": [lookup, proxied, {"handle": [config.UNKNOWN_WORKSPACE]}],
                },
            ],
            "terminal": True,
        },
        {"handle": [config.NOT_FOUND]},
    ]


def write_route(routes_dir: Path, name: str, address: str, owner: str = "") -> None:
    workspace = routes_dir / name
    workspace.mkdir(exist_ok=True)
    (workspace / f"{address}@{owner}").touch()


def remove_route(routes_dir: Path, name: str) -> None:
    workspace = routes_dir / name
    for entry in workspace.iterdir():
        entry.unlink()
    workspace.rmdir()


async def timed(change: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await change()
    return time.perf_counter() - started


async def churned_load(url: str, changes: int, change: Callable[[int], Awaitable[None]]) -> Any:
    """Requests failed by looping clients while ``changes`` workspaces are added."""
    task = asyncio.create_task(load(url, changes * INTERVAL * 1.2))
    for i in range(changes):
        await change(i)
        await asyncio.sleep(INTERVAL)
    answered, failed, _ = await task
    return {"answered": answered, "failed": failed}


async def bench_files(process: CaddyProcess, routes_dir: Path, size: int, changes: int) -> Any:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    base = config.base_config(process.options)
    server = base["apps"]["http"]["servers"][config.SERVER_NAME]
    server["routes"] = file_shape_routes(routes_dir, process.options.workspace_port)
    await admin.load(base)
    await admin.aclose()
    for i in range(size - 1):
        write_route(routes_dir, f"ws{i}", _address(i))
    write_route(routes_dir, f"ws{size - 1}", UPSTREAM)

    async def add() -> None:
        write_route(routes_dir, "bench-new", "127.0.0.99")

    async def remove() -> None:
        remove_route(routes_dir, "bench-new")

    adds, removes = [], []
    for _ in range(REPEAT):
        adds.append(await timed(add))
        removes.append(await timed(remove))

    async with httpx.AsyncClient(base_url=f"http://{process.options.listen}") as http:
        gone = await http.get("/workspace/bench-new/")
    if gone.status_code != 404:  # the shape must route, not only be fast
        raise RuntimeError(f"a removed workspace answered {gone.status_code}, not 404")

    async def change(i: int) -> None:
        write_route(routes_dir, f"extra{i}", "127.0.0.99")

    url = f"http://{process.options.listen}/workspace/ws{size - 1}/static/app.js"
    return {
        "add_ms": median_ms(adds),
        "remove_ms": median_ms(removes),
        "during_changes": await churned_load(url, changes, change),
    }


async def bench_map(process: CaddyProcess, size: int, changes: int) -> Any:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await ensure_base_config(admin, process.options)
    table = CaddyRouteTable(admin)
    routes = {f"ws{i}": _address(i) for i in range(size - 1)} | {f"ws{size - 1}": UPSTREAM}
    await table.replace_all(routes)
    adds, removes = [], []
    for _ in range(REPEAT):
        adds.append(await timed(lambda: table.add("bench-new", "127.0.0.99")))
        removes.append(await timed(lambda: table.remove("bench-new")))

    async def change(i: int) -> None:
        await table.add(f"extra{i}", "127.0.0.99")

    url = f"http://{process.options.listen}/workspace/ws{size - 1}/static/app.js"
    result = {
        "add_ms": median_ms(adds),
        "remove_ms": median_ms(removes),
        "during_changes": await churned_load(url, changes, change),
    }
    await admin.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    args = parser.parse_args()
    upstream_port = free_port()
    results: dict[str, Any] = {"benchmark": "file_routes", "size": args.size}
    path = f"/workspace/ws{args.size - 1}/"
    with static_upstream(UPSTREAM, upstream_port):
        for shape in ("map", "files"):
            port = free_port()
            with (
                private_caddy(f"127.0.0.1:{port}", upstream_port) as process,
                tempfile.TemporaryDirectory(prefix="tidepool-routes-") as routes_dir,
            ):
                if shape == "map":
                    row = asyncio.run(bench_map(process, args.size, args.changes))
                else:
                    row = asyncio.run(
                        bench_files(process, Path(routes_dir), args.size, args.changes)
                    )
                rps = throughput("127.0.0.1", port, path, args.seconds)
                results[shape] = {**row, "requests_per_second": round(rps, 1)}
    results["rps_ratio_files_vs_map"] = round(
        results["files"]["requests_per_second"] / results["map"]["requests_per_second"], 3
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
