"""The API latency sample of ``bench/churn.py``: a client in a process of its own.

It asks for the workspace list every 100 ms through Caddy, with an API token, and prints
what it saw as JSON: each answer's latency and when it came, and every failure.

Two clients, run side by side, because on this 2-core host the client's own cost under load
is part of what it measures:

- ``plain``: one blocking ``http.client`` request at a time, a fresh connection each (as a
  browser's network stack, written in C++ and on another machine, costs next to nothing);
- ``asyncio``: ``httpx.AsyncClient`` on an event loop, keep-alive on, as a Python script of
  a user's would be.

Each answer's latency comes with the time the client process itself spent waiting for a CPU
meanwhile (its run-queue time, from ``/proc/thread-self/schedstat``): on a host this busy the
client is one more process queuing for two cores, and that wait is no server's.

On an idle host both see the same few milliseconds. While 20 code-servers boot beside them
the asyncio client's own scheduling adds tens to hundreds of milliseconds to its tail that
the plain client, asking the same server at the same moments, does not see: that part is
the client's, not the platform's.

    python bench/_api_sampler.py --client plain URL --seconds 60   (TIDEPOOL_TOKEN set)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

import httpx

#: How often each client asks.
EVERY = 0.1


class Samples:
    """Latencies of answers, when each came (seconds since the start) and failures."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.ms: list[float] = []
        self.at: list[float] = []
        self.requests = 0
        self.failures: list[str] = []
        self.waited_ms: list[float] = []

    def add(
        self, started: float, waited_before: float, status: int | None, error: str = ""
    ) -> None:
        self.requests += 1
        if status == 200:
            self.ms.append((time.monotonic() - started) * 1000)
            self.at.append(started - self.began)
            self.waited_ms.append(run_queue_ms() - waited_before)
        else:
            self.failures.append(f"+{started - self.began:.1f}s list: {status or error}")

    def json(self) -> dict[str, Any]:
        return {
            "api_ms": self.ms,
            "api_at": self.at,
            "requests": self.requests,
            "failures": self.failures,
            "client_waited_ms": self.waited_ms,
        }


def run_queue_ms() -> float:
    """How long this thread has waited, runnable, for a CPU since it began (milliseconds)."""
    with open("/proc/thread-self/schedstat") as stat:
        return int(stat.read().split()[1]) / 1e6


def sample_plain(base_url: str, token: str, seconds: float) -> Samples:
    url = urlsplit(base_url)
    headers = {"Authorization": f"Bearer {token}", "Host": url.netloc}
    samples = Samples()
    until = samples.began + seconds
    while time.monotonic() < until:
        started, waited = time.monotonic(), run_queue_ms()
        connection = HTTPConnection(url.hostname or "", url.port or 80, timeout=60)
        try:
            connection.request("GET", "/api/workspaces", headers=headers)
            answer = connection.getresponse()
            answer.read()
            samples.add(started, waited, answer.status)
        except OSError as error:
            samples.add(started, waited, None, repr(error))
        finally:
            connection.close()
        time.sleep(EVERY)
    return samples


async def sample_asyncio(base_url: str, token: str, seconds: float) -> Samples:
    samples = Samples()
    until = samples.began + seconds
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as api:
        while time.monotonic() < until:
            started, waited = time.monotonic(), run_queue_ms()
            try:
                answer = await api.get("/api/workspaces")
                samples.add(started, waited, answer.status_code)
            except httpx.HTTPError as error:
                samples.add(started, waited, None, repr(error))
            await asyncio.sleep(EVERY)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--client", choices=["plain", "asyncio"], required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    token = os.environ["TIDEPOOL_TOKEN"]
    if args.client == "plain":
        samples = sample_plain(args.url, token, args.seconds)
    else:
        samples = asyncio.run(sample_asyncio(args.url, token, args.seconds))
    print(json.dumps(samples.json()))


if __name__ == "__main__":
    main()
