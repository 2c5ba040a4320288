"""Idle stops on a real platform (Incus, Caddy, code-server, Chromium), with short timeouts.

Six workspaces, one case each. Stopped for idleness (after a warning): one with nothing
running and no connection, and one whose only process is a shell at its prompt in tmux. Kept
up: a ``sleep 600`` in a terminal nobody is looking at, a CPU-bound loop under ``nohup``, an
IDE open in a browser tab with nobody typing, and one under a keepalive. The API must name
what keeps each one up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from tidepool import bootstrap
from tidepool.client import ApiClient
from tidepool.ports import Runtime
from tidepool.settings import Settings
from tidepool.store.sql import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.incus]

PREFIX = "tpidle"
IDLE = {
    "TIDEPOOL_IDLE_TIMEOUT_MINUTES": "1.5",
    "TIDEPOOL_IDLE_WARNING_MINUTES": "0.5",
    "TIDEPOOL_ACTIVITY_INTERVAL_SECONDS": "3",
}
NAMES = ("quiet", "tmux-idle", "sleeper", "looper", "tab", "kept")
DEV = 1000
#: What each case starts inside its workspace, as its user, detached from the exec.
STARTS = {
    # A terminal (a pty, as code-server's) running ``sleep 600``, with nobody attached.
    "sleeper": "setsid -f script -qfc 'sleep 600' /dev/null </dev/null >/dev/null 2>&1",
    "looper": "setsid -f nohup nice -n 19 sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1",
    "tmux-idle": "tmux new-session -d -s idle",
}


async def instance_of(runtime: Runtime, address: str) -> str:
    return next(i.name for i in await runtime.list() if i.ipv4 == address)


@contextlib.asynccontextmanager
async def platform(tmp_path: Path) -> AsyncIterator[tuple[ServeProcess, ApiClient]]:
    data = tmp_path / "data"
    data.mkdir()
    serve = ServeProcess(data, free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX, IDLE)
    assert tidepool("service", "start", env=serve.env()).returncode == 0
    try:
        async with serve.api() as api:
            yield serve, api
    finally:
        with contextlib.suppress(Exception):
            async with serve.api() as api:
                for name in NAMES:
                    await delete_and_wait(api, name)
        tidepool("service", "stop", env=serve.env())


async def until_stopped(api: ApiClient, names: set[str], timeout: float = 300) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        items = {i["name"]: i for i in (await api.list())["items"]}
        if all(items[n]["status"] == "stopped" for n in names):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not stopped for idleness in {timeout} s: {items}")
        await asyncio.sleep(1)


async def test_idle_stops_take_the_idle_and_never_the_working(
    tmp_path: Path, browser: Browser
) -> None:
    runtime = bootstrap.build_runtime(Settings())
    async with platform(tmp_path) as (serve, api):
        made: dict[str, Any] = {}
        for name in NAMES:
            await api.create(name)
            made[name] = await wait_for_status(api, name, {"running"})
        for name, command in STARTS.items():
            instance = await instance_of(runtime, made[name]["address"])
            started = await runtime.exec(
                instance, ["sh", "-c", command], user=DEV, env={"HOME": "/home/dev"}
            )
            assert started.ok, started.stderr
        await api.keepalive("kept", "1h")
        page = await browser.new_page()
        try:
            await page.goto(made["tab"]["url"])
            await page.locator(".monaco-workbench").wait_for(timeout=90_000)

            await until_stopped(api, {"quiet", "tmux-idle"})
            items = {i["name"]: i for i in (await api.list())["items"]}
        finally:
            await page.close()

        for name in ("quiet", "tmux-idle"):
            assert items[name]["stop_reason"] == "idle", items[name]
        kept_up = {n: items[n] for n in ("sleeper", "looper", "tab", "kept")}
        assert {n: i["status"] for n, i in kept_up.items()} == dict.fromkeys(kept_up, "running")
        last = {n: i["activity"]["last"] for n, i in kept_up.items()}
        assert last["sleeper"]["signal"] == "work" and "sleep 600" in last["sleeper"]["detail"]
        assert last["looper"]["signal"] == "work" and "while" in last["looper"]["detail"]
        assert last["tab"]["signal"] in {"connection", "ide"}, last["tab"]
        assert last["kept"]["signal"] == "keepalive"

        store, queue = open_store(serve.database_url)
        try:
            quiet = await store.get("quiet")
            events = [(e.kind, e.value, e.detail) for e in await store.events(quiet.id)]
        finally:
            await queue.aclose()
        kinds = [(kind, value) for kind, value, _ in events]
        assert kinds.index(("idle", "warning")) < kinds.index(("idle", "stop"))
        assert ("request", "stop", "idle") in events
        # A clean stop: it starts again as any stopped workspace does.
        await api.act("quiet", "start")
        await wait_for_status(api, "quiet", {"running"})
    await runtime.aclose()
