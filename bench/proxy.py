"""Static-asset throughput through Caddy with sign-in and ownership on, beside it off.

Prints JSON. Caddy processes side by side, each routing 1,000 workspaces, with the same
static upstream (a second Caddy serving a 512-byte body) and the same request
(``/workspace/ws0/static/app.js``):

- ``none``: no auth;
- ``basic``: Caddy's basic_auth with its hash cache, and the owner check on every request;
- ``forward_auth``: a browser session (signed in through Caddy on the real control-plane
  API), which Caddy admits from its session map after the first request, plus the owner check;
- ``forward_auth_token``: an API token, which Caddy asks the control plane about once and
  then admits from its token map (the first request teaches it);
- ``origin``: the workspace on its own origin (``ws0.localhost``, the default), no sign-in;
- ``origin_grant``: the same with sign-in on: the browser's grant for that origin, which Caddy
  finds per request together with the workspace's route, through the grant's link (the
  default for a signed-in team);
- ``origin_token``: the same origin with an API token (a script, ``tidepool ssh``, a port
  forward), admitted from Caddy's token map, plus the owner check.

wrk (2 threads, 16 connections) runs against each in turn, alternating, ``--rounds`` times;
the medians are compared. Beside each throughput, the Caddy's own CPU time per request (from
``/proc/PID/stat`` around each wrk run): on two shared cores it moves far less than
throughput does, so its ratios say what a shape costs when throughput is lost in the noise.
Everything runs on loopback.

    apt-get install -y wrk
    .venv/bin/python bench/proxy.py [--seconds 3] [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from _caddy import free_port, static_upstream, wrk_run
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.adapters.caddy.sessions import CaddySessionMap
from tidepool.auth.grants import GrantStore
from tidepool.auth.sessions import SESSION_COOKIE, session_key
from tidepool.auth.tokens import TokenStore
from tidepool.domain.origins import WorkspaceHost
from tidepool.edge import GRANT_COOKIE

HERE = Path(__file__).resolve().parent

UPSTREAM = "127.0.0.50"
USER, PASSWORD = "ann", "bench-password"


async def configure(process: CaddyProcess, workspaces: int) -> None:
    admin = CaddyAdmin.over_unix_socket(process.options.admin_socket)
    await wait_until_serving(admin)
    routes = {f"ws{i}": f"127.1.{i // 250}.{i % 250 + 1}" for i in range(workspaces)}
    routes["ws0"] = UPSTREAM
    table = CaddyRouteTable(process.options.routes_dir)
    for name, address in routes.items():
        await table.add(name, address, USER)
    await admin.load(config.base_config(process.options))
    await admin.aclose()


def start_signin_api(data: Path, options: config.CaddyOptions) -> subprocess.Popen[bytes]:
    """The real API with forward_auth, behind this Caddy (as ``tidepool serve`` runs it)."""
    data.mkdir(exist_ok=True)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    users = {"users": [{"name": USER, "password_hash": password_hash, "admin": False}]}
    (data / "users.json").write_text(json.dumps(users))
    assert options.api_socket is not None
    argv = [sys.executable, str(HERE / "_signin_api.py"), str(data), str(options.api_socket)]
    api = subprocess.Popen([*argv, str(options.admin_socket)])
    deadline = time.monotonic() + 30
    while not options.api_socket.exists():
        if time.monotonic() > deadline or api.poll() is not None:
            sys.exit("the sign-in API did not start")
        time.sleep(0.05)
    return api


async def signed_in_cookie(options: config.CaddyOptions) -> str:
    """Sign in through Caddy, open the workspace once, wait until Caddy's map has the session."""
    async with httpx.AsyncClient(base_url=f"http://{options.listen}") as http:
        response = await http.post("/api/auth/login", json={"name": USER, "password": PASSWORD})
        response.raise_for_status()
        token = http.cookies[SESSION_COOKIE]
        assert (await http.get("/workspace/ws0/static/app.js")).status_code == 200
    admin = CaddyAdmin.over_unix_socket(options.admin_socket)
    try:
        for _ in range(200):
            if session_key(token)[:32] in await CaddySessionMap(admin).known():
                return f"{SESSION_COOKIE}={token}"
            await asyncio.sleep(0.05)
    finally:
        await admin.aclose()
    sys.exit("Caddy never learnt the session")


def wrk(port: int, seconds: float, headers: dict[str, str]) -> tuple[float, int]:
    """Requests per second and answered, through the path URL, or, with a ``Host`` header,
    at the workspace's own origin."""
    path = "/static/app.js" if "Host" in headers else "/workspace/ws0/static/app.js"
    return wrk_run(f"http://127.0.0.1:{port}{path}", seconds, headers)


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def grant_cookie(options: config.CaddyOptions) -> str:
    """A grant for ``ws0``'s origin, as the handshake writes it."""
    grants = GrantStore(options.grants_dir, routes_dir=options.routes_dir)
    token = grants.issue(WorkspaceHost("ws0", None), USER, "basic")
    return f"{GRANT_COOKIE}={token}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=9)
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
        "forward_auth": (None, {}),
        "forward_auth_token": (None, {}),
        "origin": (None, {}),
        "origin_grant": (None, {}),
        "origin_token": (None, {}),
    }
    samples: dict[str, list[float]] = {name: [] for name in shapes}
    cpu_us: dict[str, list[float]] = {name: [] for name in shapes}
    with static_upstream(UPSTREAM, upstream_port), contextlib.ExitStack() as stack:
        processes: dict[str, CaddyProcess] = {}
        for name, (users, headers) in shapes.items():
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            signed_in = name.startswith("forward_auth") or name in ("origin_grant", "origin_token")
            on_origin = name.startswith("origin")
            options = config.CaddyOptions(
                admin_socket=directory / "admin.sock",
                storage_dir=directory / "storage",
                listen=f"127.0.0.1:{free_port()}",
                workspace_port=upstream_port,
                users=users,
                forward_auth=signed_in,
                api_socket=directory / "api.sock" if signed_in else None,
                workspace_domain="localhost" if on_origin else "",
                serve_paths=not on_origin,
            )
            process = CaddyProcess(options, directory)
            process.start()
            stack.callback(process.stop)
            asyncio.run(configure(process, args.workspaces))
            if signed_in:
                api = start_signin_api(directory / "data", options)
                stack.callback(api.wait)
                stack.callback(api.terminate)
            if name == "forward_auth":
                headers["Cookie"] = asyncio.run(signed_in_cookie(options))
            if name in ("forward_auth_token", "origin_token"):
                token, _ = TokenStore(directory / "data" / "tokens.json").create(USER)
                headers["Authorization"] = f"Bearer {token}"
            if on_origin:
                headers["Host"] = f"ws0.localhost:{options.listen.rsplit(':', 1)[1]}"
            if name == "origin_grant":
                headers["Cookie"] = grant_cookie(options)
            processes[name] = process
        for name, process in processes.items():  # warm up (and fill the hash cache)
            wrk(int(process.options.listen.rsplit(":", 1)[1]), 1, shapes[name][1])  # (discarded)
        for _ in range(args.rounds):
            for name, process in processes.items():
                port = int(process.options.listen.rsplit(":", 1)[1])
                pid = process.pid()
                assert pid is not None
                before = cpu_seconds(pid)
                rate, answered = wrk(port, args.seconds, shapes[name][1])
                samples[name].append(rate)
                cpu_us[name].append((cpu_seconds(pid) - before) / answered * 1e6)
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    cpu = {name: round(statistics.median(values), 1) for name, values in cpu_us.items()}
    result: dict[str, Any] = {
        "benchmark": "proxy",
        "workspaces_routed": args.workspaces,
        "requests_per_second": medians,
        "samples": samples,
        "ratio_basic_vs_none": round(medians["basic"] / medians["none"], 3),
        "ratio_forward_auth_vs_none": round(medians["forward_auth"] / medians["none"], 3),
        "ratio_forward_auth_token_vs_none": round(
            medians["forward_auth_token"] / medians["none"], 3
        ),
        "ratio_origin_vs_none": round(medians["origin"] / medians["none"], 3),
        "ratio_origin_grant_vs_origin": round(medians["origin_grant"] / medians["origin"], 3),
        "ratio_origin_token_vs_origin": round(medians["origin_token"] / medians["origin"], 3),
        # Caddy's CPU per request, and each shape's as a share of the same origin's without
        # sign-in (1 = it costs Caddy nothing more): steadier than the throughput ratios.
        "caddy_cpu_us_per_request": cpu,
        "cpu_ratio_origin_grant": round(cpu["origin"] / cpu["origin_grant"], 3),
        "cpu_ratio_origin_token": round(cpu["origin"] / cpu["origin_token"], 3),
        "targets": {
            "basic_vs_none": 0.95,
            "forward_auth_multi_user_vs_none": 0.90,
            "origin_grant_vs_origin": 0.95,
            "origin_token_vs_origin": 0.90,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
