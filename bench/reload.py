"""What a Caddy config change costs the requests in flight at that instant.

Prints JSON. One Caddy routing a workspace to a static upstream; four clients loop on it
(plain GETs, kept-alive connections, no retries) while routes are added one after another,
each a config change as ``tidepool serve`` makes them (a workspace route, or a session taught
to the session map). Then the same clients for the same time with no changes: the baseline.
Reports the requests that failed (reset, closed without an answer, refused) in each phase.
Last, the changes again with clients that send a request again when its connection closed
under it, as browsers and Tidepool's own client do (``tidepool.retry``).

    .venv/bin/python bench/reload.py [--changes 30] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from _caddy import free_port, private_caddy, static_upstream
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import ensure_base_config, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.retry import RetryingTransport

UPSTREAM = "127.0.0.51"
CLIENTS = 4


async def load(url: str, seconds: float, retrying: bool = False) -> tuple[int, int, dict[str, int]]:
    """Requests answered and failed by CLIENTS loops over ``seconds``."""
    answered = failed = 0
    kinds: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def loop(http: httpx.AsyncClient) -> None:
        nonlocal answered, failed
        while time.monotonic() < deadline:
            try:
                response = await http.get(url)
                answered += response.status_code == 200
            except httpx.TransportError as error:
                failed += 1
                kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1

    transport = RetryingTransport() if retrying else None
    async with httpx.AsyncClient(transport=transport) as http:
        await asyncio.gather(*(loop(http) for _ in range(CLIENTS)))
    return answered, failed, kinds


async def measure(process: Any, changes: int, interval: float) -> dict[str, Any]:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await wait_until_serving(admin)
    await ensure_base_config(admin, process.options)
    table = CaddyRouteTable(admin)
    await table.add("ws0", UPSTREAM)
    url = f"http://{process.options.listen}/workspace/ws0/static/app.js"

    async def churn(prefix: str) -> float:
        started = time.monotonic()
        for i in range(changes):
            await table.add(f"{prefix}{i}", "127.0.0.99")
            await asyncio.sleep(interval)
        return time.monotonic() - started

    seconds = changes * interval * 1.2
    load_task = asyncio.create_task(load(url, seconds))
    churned = await churn("extra")
    during = await load_task
    quiet = await load(url, seconds)
    retrying_task = asyncio.create_task(load(url, seconds, retrying=True))
    await churn("again")
    retrying = await retrying_task
    await admin.aclose()

    def phase(result: tuple[int, int, dict[str, int]]) -> dict[str, Any]:
        answered, failed, kinds = result
        share = failed / (answered + failed) if answered + failed else 0.0
        return {"answered": answered, "failed": failed, "failed_share": round(share, 4), **kinds}

    return {
        "benchmark": "reload",
        "config_changes": changes,
        "changes_took_s": round(churned, 2),
        "clients": CLIENTS,
        "during_changes": phase(during),
        "baseline_no_changes": phase(quiet),
        "during_changes_retrying_clients": phase(retrying),
        "failed_per_change": round(during[1] / changes, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    upstream_port = free_port()
    with (
        static_upstream(UPSTREAM, upstream_port),
        private_caddy(f"127.0.0.1:{free_port()}", upstream_port) as process,
    ):
        print(json.dumps(asyncio.run(measure(process, args.changes, args.interval)), indent=2))


if __name__ == "__main__":
    main()
