"""Latency and throughput of the control plane's API, over uvicorn, with 1,000 workspaces.

Prints JSON: p50/p95 of ``GET /api/workspaces`` (the first page of 50) with 1,000 workspaces
stored and of ``POST /api/workspaces``, each beside ``GET /api/health`` measured the same way
(the baseline: the same server, framework and connection, one one-row read), and sustained
requests per second under wrk (2 threads, 16 connections) for the list and the baseline.
The server is one uvicorn process on loopback with the SQLite store, as ``tidepool serve``
runs by default: the standard asyncio event loop and httptools.

Nothing is written while wrk runs, so the list is answered from the kept page (see
``tidepool.api.routers.workspaces.RenderedPages``). A second server, started the same way but
with the store's change marker off (as for the first request after a write),
gives the list when every request reads and renders its page: the ``not_kept`` figures.

    apt-get install -y wrk        # the load generator (Debian's package)
    .venv/bin/python bench/api.py [--seconds 10] [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _caddy import free_port, wrk_rps
from tidepool.domain.workspace import Workspace
from tidepool.store import migrate
from tidepool.store.sql import open_store

HERE = Path(__file__).resolve().parent


async def seed(url: str, count: int) -> None:
    store, queue = open_store(url)
    for i in range(count):
        await store.add(Workspace(name=f"seed-{i:05d}", owner="bench", image="bench-image"))
    await queue.aclose()
    await store.aclose()


def latency(
    client: httpx.Client, method: str, path: str, samples: int, body: Any = None
) -> dict[str, float]:
    times = []
    for i in range(samples):
        payload = {"name": f"post-{i:05d}-{os.getpid() % 1000}"} if body == "new" else body
        started = time.perf_counter()
        response = client.request(method, path, json=payload)
        times.append(time.perf_counter() - started)
        assert response.status_code < 300, response.text
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database (default: SQLite)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="tidepool-bench-api-") as temp:
        url = args.database_url or f"sqlite:///{Path(temp) / 'bench.db'}"
        migrate.upgrade(url)
        asyncio.run(seed(url, args.workspaces))
        results: dict[str, Any] = {
            "benchmark": "api",
            "database": url.split(":", 1)[0],
            "workspaces_stored": args.workspaces,
        }
        # First, while exactly ``--workspaces`` are stored: the create latencies below add more.
        with api_server(url, keep_pages=False) as base:
            with httpx.Client(base_url=base, timeout=10) as client:
                results["list_not_kept"] = latency(client, "GET", "/api/workspaces", args.samples)
            results["not_kept"] = sustained(base, args.seconds)
        with api_server(url, keep_pages=True) as base:
            with httpx.Client(base_url=base, timeout=10) as client:
                results["baseline_health"] = latency(client, "GET", "/api/health", args.samples)
                results["list"] = latency(client, "GET", "/api/workspaces", args.samples)
                results["create"] = latency(client, "POST", "/api/workspaces", args.samples, "new")
            kept = sustained(base, args.seconds)
        results["rps_baseline_health"] = kept["rps_baseline_health"]
        results["rps_list"] = kept["rps_list"]
        results["rps_ratio_list_vs_baseline"] = kept["rps_ratio_list_vs_baseline"]
        results["targets"] = {"list_p50_ms": 20, "rps": 1000}
    print(json.dumps(results, indent=2))


def sustained(base: str, seconds: float) -> dict[str, float]:
    """wrk on the baseline, then on the list, against one server."""
    health = round(wrk_rps(f"{base}/api/health", seconds), 1)
    listed = round(wrk_rps(f"{base}/api/workspaces", seconds), 1)
    return {
        "rps_baseline_health": health,
        "rps_list": listed,
        "rps_ratio_list_vs_baseline": round(listed / health, 3),
    }


@contextmanager
def api_server(url: str, *, keep_pages: bool) -> Iterator[str]:
    """A uvicorn process serving the app of ``_api_app``; yields its base URL once it
    answers, warmed up on the list."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "_api_app:app",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # What ``tidepool serve`` runs: asyncio.run's loop, uvicorn's default HTTP parser.
            "--loop",
            "asyncio",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={
            **os.environ,
            "TIDEPOOL_BENCH_DATABASE_URL": url,
            "TIDEPOOL_BENCH_KEEP_PAGES": "1" if keep_pages else "0",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(200):
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            for _ in range(20):  # warm up
                client.get("/api/workspaces")
        yield base
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
