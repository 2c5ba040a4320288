"""Load with churn: long-lived WebSockets and API traffic while everything around them changes.

Prints JSON. A real platform (``tidepool service start``, ``auth = "forward_auth"``, its
own data directory, port and instance prefix) runs workspace ``echo``, whose forwarded port
8081 is a WebSocket echo server. Through Caddy:

- ``--sockets`` WebSockets (50) each send a message every 100 ms and wait for it to come
  back, for ``--seconds`` (60); a socket that closes is a drop;
- two clients, each in a process of its own, ask the API for the workspace list every
  100 ms (the latency sample; ``bench/_api_sampler.py`` says why two);

and meanwhile, spread over the run:

- ``--route-changes`` (200) route changes: a route file added or removed, as the worker does;
- ``--creates`` (20) workspaces created, each deleted once it runs (or at the end);
- ``--sign-ins`` (30) sign-ins, each a password sign-in and the handshake that opens
  ``echo``'s IDE on its origin (a grant written);
- ``serve`` restarted once, half-way (``tidepool service restart``);

with ``--background`` (7) other workspaces running idle all along, as on a team's host.

Every client is plain: no retries. Before the churn starts the API is sampled for 5 s with
nothing else going on, the baseline the loaded p95 is compared with. All traffic stays on
loopback and on the bench's own containers.

    .venv/bin/python bench/churn.py [--seconds 60] [--sockets 50] [--background 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.cli import tidepool  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.users import write_users  # noqa: E402
from support.ws_echo import ECHO_PORT, start_ws_echo  # noqa: E402
from tidepool.adapters.caddy.routes import CaddyRouteTable  # noqa: E402
from tidepool.bootstrap import build_runtime  # noqa: E402
from tidepool.domain.names import instance_name_for  # noqa: E402
from tidepool.loopback import LoopbackNames, websocket_options  # noqa: E402
from tidepool.settings import Settings  # noqa: E402

PREFIX = "tpc"
USER, PASSWORD = "churn", "churn-password-1"
ECHO_EVERY = 0.1
QUIET_SECONDS = 5.0
#: What a browser's navigation says: the handshake signs pages in, not scripts.
BROWSER = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


@dataclass
class Tally:
    """What the clients saw: latencies of API answers, and every failure in words."""

    api_ms: list[float] = field(default_factory=list)
    #: When each API answer came, in seconds since the tally began (beside ``api_ms``).
    api_at: list[float] = field(default_factory=list)
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)
    #: Beside ``api_ms``, where the sampler knows it: how long of each answer the client
    #: process itself waited for a CPU (its run-queue time), time no server could shorten.
    client_waited_ms: list[float] = field(default_factory=list)
    #: What the bench's own calls took, by kind (``create``, ``sign-in``, ...).
    by_kind_ms: dict[str, list[float]] = field(default_factory=dict)

    def failed(self, what: str) -> None:
        self.failures.append(f"+{time.monotonic() - self.began:.1f}s {what}")

    async def call(
        self, what: str, send: Callable[[], Awaitable[httpx.Response]], ok: int = 200
    ) -> httpx.Response | None:
        self.requests += 1
        started = time.monotonic()
        try:
            response = await send()
        except httpx.HTTPError as error:
            self.failed(f"{what}: {error!r}")
            return None
        if response.status_code != ok:
            self.failed(f"{what}: {response.status_code} {response.text[:120]}")
            return None
        took = (time.monotonic() - started) * 1000
        self.by_kind_ms.setdefault(what.split(" ")[0], []).append(took)
        return response


@dataclass
class Echoes:
    """Per socket: the longest time between two answers, and whether it closed."""

    gaps_ms: list[float] = field(default_factory=list)
    round_trips_ms: list[float] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def platform_env(data: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TIDEPOOL_DATA_DIR": str(data),
        "TIDEPOOL_HTTP_HOST": "127.0.0.1",
        "TIDEPOOL_HTTP_PORT": str(port),
        "TIDEPOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TIDEPOOL_DATABASE_URL": f"sqlite:///{data / 'tidepool.db'}",
        "TIDEPOOL_INSTANCE_PREFIX": PREFIX,
        "TIDEPOOL_AUTH": "forward_auth",
        "TIDEPOOL_WORKSPACE_MEMORY_MIB": "1024",
    }


def new_token(env: dict[str, str]) -> str:
    made = tidepool("token", "create", USER, "--label", "churn bench", env=env)
    if made.returncode != 0:
        raise RuntimeError(f"token create failed: {made.stdout}{made.stderr}")
    return next(line for line in made.stdout.split() if line.startswith("tpt_"))


async def wait_running(api: httpx.AsyncClient, name: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        workspace: dict[str, Any] = (await api.get(f"/api/workspaces/{name}")).json()
        if workspace.get("status") == "running":
            return workspace
        if workspace.get("status") == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not run: {workspace}")
        await asyncio.sleep(0.5)


async def echo_through(url: str, token: str, until: float, echoes: Echoes) -> None:
    """One terminal-like WebSocket: a message every 100 ms, each waited for."""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with websockets.connect(
            url, additional_headers=headers, **websocket_options(url)
        ) as socket:
            last, count = time.monotonic(), 0
            while time.monotonic() < until:
                sent = time.monotonic()
                await socket.send(f"{count}")
                if await socket.recv() != f"{count}":
                    echoes.drops.append(f"wrong echo {count}")
                    return
                now = time.monotonic()
                echoes.round_trips_ms.append((now - sent) * 1000)
                echoes.gaps_ms.append((now - last) * 1000)
                last, count = now, count + 1
                await asyncio.sleep(ECHO_EVERY)
    except (OSError, websockets.WebSocketException) as error:
        echoes.drops.append(repr(error))


async def sample_api_apart(
    base_url: str, token: str, seconds: float, tally: Tally, client: str
) -> None:
    """The API sampled by ``bench/_api_sampler.py`` with ``client`` in a process of its own,
    as a person's browser is: the 50 sockets this process serves must not make the
    platform's answers look slow (they did: this loop's own callbacks took up to 0.2 s
    under the churn). Its samples are added to ``tally``."""
    sampler = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "_api_sampler.py"),
        base_url,
        "--client",
        client,
        "--seconds",
        str(seconds),
        env={**os.environ, "TIDEPOOL_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        # A session of its own, as a person's browser is: with the kernel's autogroups on
        # (Debian's default), every session shares the CPU as one, and in this bench's session
        # the 50 sockets' loop would be the sampler's rival.
        start_new_session=True,
    )
    out, _ = await sampler.communicate()
    sampled = json.loads(out)
    tally.api_ms.extend(sampled["api_ms"])
    tally.api_at.extend(sampled["api_at"])
    tally.requests += sampled["requests"]
    tally.failures.extend(sampled["failures"])
    tally.client_waited_ms.extend(sampled["client_waited_ms"])


async def sample_both(
    base_url: str, token: str, seconds: float, plain: Tally, other: Tally
) -> None:
    """Both clients at once, over the same seconds (``_api_sampler``: why two)."""
    await asyncio.gather(
        sample_api_apart(base_url, token, seconds, plain, "plain"),
        sample_api_apart(base_url, token, seconds, other, "asyncio"),
    )


async def change_routes(routes: CaddyRouteTable, count: int, seconds: float, address: str) -> int:
    """``count`` changes: routes ``churn-rN`` added, then each removed again."""
    done = 0
    for index in range(count):
        name = f"churn-r{index // 2}"
        if index % 2 == 0:
            await routes.add(name, address)
        else:
            with contextlib.suppress(Exception):  # resync may have removed it already
                await routes.remove(name)
        done += 1
        await asyncio.sleep(seconds / count)
    return done


async def create_and_delete(
    api: httpx.AsyncClient, count: int, seconds: float, tally: Tally
) -> int:
    """``count`` workspaces created one after another; each deleted once it runs."""
    deleted = 0

    async def one(index: int) -> None:
        nonlocal deleted
        name = f"churn-{index}"
        made = await tally.call(
            f"create {name}", lambda: api.post("/api/workspaces", json={"name": name}), 202
        )
        if made is None:
            return
        with contextlib.suppress(RuntimeError):
            await wait_running(api, name, timeout=seconds * 2)
        if await tally.call(f"delete {name}", lambda: api.delete(f"/api/workspaces/{name}"), 202):
            deleted += 1

    tasks = []
    for index in range(count):
        tasks.append(asyncio.create_task(one(index)))
        await asyncio.sleep(seconds / count)
    await asyncio.gather(*tasks)
    return deleted


async def sign_ins(base_url: str, ide_url: str, count: int, seconds: float, tally: Tally) -> int:
    """Each: a password sign-in, then the IDE's origin through the handshake (a grant)."""
    done = 0
    for _ in range(count):
        async with httpx.AsyncClient(
            base_url=base_url, transport=LoopbackNames(), timeout=60, headers=BROWSER
        ) as browser:
            signed = await tally.call(
                "sign-in",
                lambda b=browser: b.post(
                    "/api/auth/login", json={"name": USER, "password": PASSWORD}
                ),
            )
            opened = signed and await tally.call(
                "open-IDE", lambda b=browser: b.get(ide_url, follow_redirects=True)
            )
            done += bool(opened)
        await asyncio.sleep(seconds / count)
    return done


async def restart_serve(env: dict[str, str], after: float) -> float:
    await asyncio.sleep(after)
    started = time.monotonic()
    restarted = await asyncio.to_thread(tidepool, "service", "restart", env=env)
    if restarted.returncode != 0:
        raise RuntimeError(f"restart failed: {restarted.stdout}{restarted.stderr}")
    return round(time.monotonic() - started, 2)


async def measure(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    port = free_port()
    write_users(data / "users.json", {USER: PASSWORD})
    env = platform_env(data, port)
    base_url = f"http://127.0.0.1:{port}"
    started = tidepool("service", "start", env=env)
    if started.returncode != 0:
        raise RuntimeError(f"service start failed: {started.stdout}{started.stderr}")
    token = new_token(env)
    runtime = build_runtime(Settings())
    api = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    try:
        for index in range(args.background):
            await api.post("/api/workspaces", json={"name": f"idle-{index}"})
        await api.post("/api/workspaces", json={"name": "echo"})
        for index in range(args.background):
            await wait_running(api, f"idle-{index}")
        echo = await wait_running(api, "echo")
        await start_ws_echo(runtime, instance_name_for(PREFIX, echo["id"]))

        quiet, quiet_asyncio = Tally(), Tally()
        await sample_both(base_url, token, QUIET_SECONDS, quiet, quiet_asyncio)

        tally, by_asyncio, echoes = Tally(), Tally(), Echoes()
        until = time.monotonic() + args.seconds
        url = f"ws://{ECHO_PORT}--echo.localhost:{port}/"
        sockets = [echo_through(url, token, until, echoes) for _ in range(args.sockets)]
        churn = args.seconds * 0.8  # leave the last fifth for the workspaces to settle
        results = await asyncio.gather(
            *sockets,
            sample_both(base_url, token, args.seconds, tally, by_asyncio),
            change_routes(
                CaddyRouteTable(data / "caddy" / "routes"),
                args.route_changes,
                churn,
                echo["address"],
            ),
            create_and_delete(api, args.creates, churn, tally),
            sign_ins(base_url, f"http://echo.localhost:{port}/", args.sign_ins, churn, tally),
            restart_serve(env, args.seconds / 2),
        )
        route_changes, deleted, signed_in, restart_seconds = results[-4:]
    finally:
        with contextlib.suppress(Exception):
            left = (await api.get("/api/workspaces")).json()["items"]
            for workspace in left:
                await api.delete(f"/api/workspaces/{workspace['name']}")
            while (await api.get("/api/workspaces")).json()["items"]:
                await asyncio.sleep(0.5)
        await api.aclose()
        await runtime.aclose()
        tidepool("service", "stop", env=env)
    gaps = echoes.gaps_ms
    api_p95, quiet_p95 = percentile(tally.api_ms, 0.95), percentile(quiet.api_ms, 0.95)
    failures = tally.failures + by_asyncio.failures
    return {
        "seconds": args.seconds,
        "background_workspaces": args.background,
        "websockets": args.sockets,
        "websocket_drops": len(echoes.drops),
        "echoes": len(echoes.round_trips_ms),
        "echo_worst_gap_ms": round(max(gaps), 1) if gaps else None,
        "echo_nominal_gap_ms": ECHO_EVERY * 1000,
        "echo_round_trip_p99_ms": percentile(echoes.round_trips_ms, 0.99),
        "http_requests": tally.requests + by_asyncio.requests,
        "http_failed": len(failures),
        "api_p50_ms": percentile(tally.api_ms, 0.50),
        # The slowest answers and when they came: where the tail of the API's latency is.
        "api_slowest_at_s_ms_client_waited_ms": slowest(tally),
        "api_p95_ms": api_p95,
        # The same answers less the time the sampler itself queued for a CPU meanwhile.
        "api_p95_less_client_cpu_wait_ms": percentile(
            [ms - waited for ms, waited in zip(tally.api_ms, tally.client_waited_ms, strict=True)],
            0.95,
        ),
        "api_p95_quiet_ms": quiet_p95,
        "api_p95_ratio_to_quiet": round(api_p95 / quiet_p95, 2) if quiet_p95 else None,
        # The same list asked at the same moments by an asyncio client (``_api_sampler``).
        "api_asyncio_client_p50_ms": percentile(by_asyncio.api_ms, 0.50),
        "api_asyncio_client_p95_ms": percentile(by_asyncio.api_ms, 0.95),
        "api_asyncio_client_p95_quiet_ms": percentile(quiet_asyncio.api_ms, 0.95),
        "api_asyncio_client_slowest_at_s_ms": slowest(by_asyncio),
        # The bench's own calls, by kind, from its busy event loop: a create or a delete is
        # accepted (202) and worked on behind it; a sign-in hashes a password on purpose.
        "calls_p50_p95_ms": {
            kind: [percentile(took, 0.50), percentile(took, 0.95)]
            for kind, took in sorted(tally.by_kind_ms.items())
        },
        "route_changes": route_changes,
        "creates": args.creates,
        "deletes": deleted,
        "sign_ins": signed_in,
        "serve_restart_seconds": restart_seconds,
        "serve_restart_at_seconds": args.seconds / 2,
        "first_failures": (failures + echoes.drops)[:10],
        "goals": {
            "websocket_drops_0": not echoes.drops,
            "http_failed_0": not failures,
            "api_p95_at_most_50_ms": api_p95 <= 50,
        },
    }


def slowest(tally: Tally) -> list[tuple[float, int, int]]:
    """The ten slowest answers: when each came (seconds into the run), how long it took, and
    how much of that the client waited for a CPU."""
    samples = (
        (round(at, 1), round(ms), round(waited))
        for at, ms, waited in zip(tally.api_at, tally.api_ms, tally.client_waited_ms, strict=True)
    )
    return sorted(samples, key=lambda sample: -sample[1])[:10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--route-changes", type=int, default=200)
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--sign-ins", type=int, default=30)
    parser.add_argument("--background", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidepool-churn-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        result = asyncio.run(measure(args, data))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
