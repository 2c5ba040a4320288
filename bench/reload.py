"""What a change costs the requests in flight at that instant: a route, and a config reload.

Prints JSON. One Caddy (with sign-in by session, as ``auth = "forward_auth"`` runs it) routes
a workspace to a static upstream; four signed-in clients loop on it (plain GETs, kept-alive
connections, no retries) through four phases of the same length:

- ``during_route_changes``: workspaces are added one after another. Routes are files Caddy
  reads per request, so this changes no config.
- ``during_config_reloads``: sessions are taught to Caddy's session map one after another,
  each a whole-config reload, as ``tidepool serve`` does on a session's first request.
- ``baseline_no_changes``: nothing changes.
- ``during_config_reloads_retrying_clients``: reloads again, under clients that send a
  request again when its connection closed under it, as browsers and Tidepool's own client
  do (``tidepool.retry``).

Then the shape Tidepool runs by default, each workspace on its own origin, where a sign-in
never changes Caddy's config: a second Caddy, the same clients on ``ws0.localhost`` with
their grant, through two more phases:

- ``origins_during_sign_ins``: 30 sign-ins, each ending in a handshake that writes a grant
  for the origin (what a sign-in changes on Caddy's side), under plain clients;
- ``origins_baseline_no_changes``: nothing changes.

Reports the requests that failed (reset, closed without an answer, refused) in each phase.

    .venv/bin/python bench/reload.py [--changes 30] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from _caddy import free_port, private_caddy, static_upstream
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import ensure_base_config, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.adapters.caddy.sessions import CaddySessionMap
from tidepool.auth.grants import GrantStore
from tidepool.auth.sessions import SESSION_COOKIE, session_key
from tidepool.domain.origins import WorkspaceHost
from tidepool.edge import GRANT_COOKIE
from tidepool.retry import RetryingTransport

UPSTREAM = "127.0.0.51"
CLIENTS = 4
USER = "ann"

Phase = tuple[int, int, dict[str, int]]


async def load(
    url: str,
    seconds: float,
    token: str,
    retrying: bool = False,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Phase:
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
    jar = cookies if cookies is not None else {SESSION_COOKIE: token}
    async with httpx.AsyncClient(transport=transport, cookies=jar, headers=headers) as http:
        await asyncio.gather(*(loop(http) for _ in range(CLIENTS)))
    return answered, failed, kinds


def summary(result: Phase) -> dict[str, Any]:
    answered, failed, kinds = result
    share = failed / (answered + failed) if answered + failed else 0.0
    return {"answered": answered, "failed": failed, "failed_share": round(share, 4), **kinds}


async def measure(process: Any, changes: int, interval: float) -> dict[str, Any]:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await wait_until_serving(admin)
    await ensure_base_config(admin, process.options)
    routes = CaddyRouteTable(process.options.routes_dir)
    sessions = CaddySessionMap(admin)
    token = secrets.token_urlsafe(32)
    await sessions.remember(session_key(token), token, USER)
    await routes.add("ws0", UPSTREAM, USER)
    url = f"http://{process.options.listen}/workspace/ws0/static/app.js"
    seconds = changes * interval * 1.2

    async def add_route(i: int) -> None:
        await routes.add(f"extra{i}", "127.0.0.99", USER)

    async def reload(i: int) -> None:
        other = secrets.token_urlsafe(32)
        await sessions.remember(session_key(other), other, USER)

    async def under(change: Callable[[int], Awaitable[None]], retrying: bool = False) -> Phase:
        load_task = asyncio.create_task(load(url, seconds, token, retrying))
        for i in range(changes):
            await change(i)
            await asyncio.sleep(interval)
        return await load_task

    phases = {
        "during_route_changes": await under(add_route),
        "during_config_reloads": await under(reload),
        "baseline_no_changes": await load(url, seconds, token),
        "during_config_reloads_retrying_clients": await under(reload, retrying=True),
    }
    await admin.aclose()
    if not phases["baseline_no_changes"][0]:
        raise RuntimeError("no request was answered: the session or the route did not take")

    return {
        "benchmark": "reload",
        "changes_per_phase": changes,
        "clients": CLIENTS,
        **{name: summary(result) for name, result in phases.items()},
    }


async def measure_origins(process: Any, changes: int, interval: float) -> dict[str, Any]:
    """The default shape: sign-ins on a workspace origin write grants, never config."""
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await wait_until_serving(admin)
    await ensure_base_config(admin, process.options)
    await admin.aclose()
    await CaddyRouteTable(process.options.routes_dir).add("ws0", UPSTREAM, USER)
    grants = GrantStore(process.options.grants_dir)
    origin = WorkspaceHost("ws0", None)
    grant = {GRANT_COOKIE: grants.issue(origin, USER, "basic")}
    port = process.options.listen.rsplit(":", 1)[1]
    url = f"http://{process.options.listen}/static/app.js"
    host = {"Host": f"ws0.localhost:{port}"}
    seconds = changes * interval * 1.2

    async def signs_in() -> Phase:
        load_task = asyncio.create_task(load(url, seconds, "", cookies=grant, headers=host))
        for _ in range(changes):
            grants.issue(origin, USER, secrets.token_hex(8))
            await asyncio.sleep(interval)
        return await load_task

    during = await signs_in()
    baseline = await load(url, seconds, "", cookies=grant, headers=host)
    if not baseline[0]:
        raise RuntimeError("no request was answered on the origin: the grant did not take")
    return {"origins_during_sign_ins": during, "origins_baseline_no_changes": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    upstream_port = free_port()
    with (
        static_upstream(UPSTREAM, upstream_port),
        private_caddy(f"127.0.0.1:{free_port()}", upstream_port, forward_auth=True) as process,
        private_caddy(
            f"127.0.0.1:{free_port()}", upstream_port, True, workspace_domain="localhost"
        ) as on_origins,
    ):
        result = asyncio.run(measure(process, args.changes, args.interval))
        origins = asyncio.run(measure_origins(on_origins, args.changes, args.interval))
        result.update({name: summary(phase) for name, phase in origins.items()})
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
