"""Is code-server up? Its ``/healthz`` answers 200 once the IDE can serve a browser."""

from __future__ import annotations

import asyncio
import time

import httpx

from tidepool.domain.ide import WORKSPACE_PORT
from tidepool.errors import TimeoutExpiredError


def ide_url(address: str) -> str:
    return f"http://{address}:{WORKSPACE_PORT}"


async def ide_healthy(http: httpx.AsyncClient, address: str) -> bool:
    try:
        response = await http.get(f"{ide_url(address)}/healthz", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def wait_for_ide(
    http: httpx.AsyncClient, address: str, timeout: float, interval: float = 0.05
) -> float:
    """Poll until code-server is healthy; return how long it took."""
    started = time.monotonic()
    while not await ide_healthy(http, address):
        if time.monotonic() - started > timeout:
            raise TimeoutExpiredError(
                f"code-server at {ide_url(address)} was not healthy after {timeout:.0f}s."
            )
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def ask_for_workbench(http: httpx.AsyncClient, address: str) -> bool:
    """Ask code-server for its workbench page once; whether it served it (never raises).

    Its first page costs it about 0.3 s more than the next. Asked for before the workspace
    is routed and said to run, the user's first page is a second one; asked for beside the
    route write instead, the user's request often came while the first render still ran,
    and the two shared the CPU (measured: 0.3-0.5 s from `running` to the page).
    """
    try:
        page = await http.get(f"{ide_url(address)}/", follow_redirects=True, timeout=30)
    except httpx.HTTPError:
        return False
    return page.status_code == 200
