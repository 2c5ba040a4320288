"""``tidepool verify``: the vertical slice's checklist, each item a real request.

1. the instance is running;
2. code-server is healthy on ``IP:8080``;
3. Caddy has the workspace's route, to that address;
4. the workbench HTML comes back through Caddy;
5. a WebSocket upgrade goes through the route.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import websockets

from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.errors import NotFoundError, TidepoolError
from tidepool.ports import InstanceStatus, RouteTable, Runtime
from tidepool.services.ide import ide_healthy
from tidepool.services.ide import ide_url as instance_ide_url


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def websocket_url(ide_url: str) -> str:
    """The URL code-server's workbench opens its main WebSocket on (``ide_url`` ends in /)."""
    ws_base = ide_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    token = uuid.uuid4()
    return f"{ws_base}?reconnectionToken={token}&reconnection=false&skipWebSocketFrames=false"


async def websocket_opens(
    url: str, timeout: float = 10.0, dial: Mapping[str, Any] | None = None
) -> str:
    """Open a WebSocket and return how the server answered the upgrade (``dial``: extra
    ``websockets.connect`` options, such as the address to connect to)."""
    # code-server does not answer a close frame: wait for it briefly, not the default 10 s.
    async with websockets.connect(
        url, open_timeout=timeout, close_timeout=0.5, max_size=None, **(dial or {})
    ) as socket:
        return f"HTTP {socket.response.status_code if socket.response else '?'}"


async def verify(
    runtime: Runtime,
    routes: RouteTable,
    http: httpx.AsyncClient,
    name: WorkspaceName,
    instance: InstanceName | None,
    ide_url: str,
    dial: Mapping[str, Any] | None = None,
) -> list[Check]:
    """Every check, passed or failed, in order; ``instance`` is None when the workspace has
    no record (every check then fails, saying why)."""
    checks: list[Check] = []
    address: str | None = None
    try:
        if instance is None:
            raise NotFoundError(f"There is no workspace {name!r}.")
        state = await runtime.state(instance)
        address = state.ipv4
        running = state.status is InstanceStatus.RUNNING
        checks.append(Check("instance running", running, f"{state.status.value}, {address}"))
    except TidepoolError as error:
        checks.append(Check("instance running", False, str(error)))

    if address:
        healthy = await ide_healthy(http, address)
        checks.append(Check("code-server healthy", healthy, f"{instance_ide_url(address)}/healthz"))
    else:
        checks.append(Check("code-server healthy", False, "the instance has no address"))

    try:
        routed = (await routes.list()).get(name)
        checks.append(
            Check(
                "route present",
                routed is not None and routed == address,
                f"/workspace/{name}/ -> {routed}",
            )
        )
    except TidepoolError as error:
        checks.append(Check("route present", False, str(error)))

    page_url = ide_url
    try:
        page = await http.get(page_url, timeout=10.0, follow_redirects=True)
        ok = page.status_code == 200 and "vscode-workbench-web-configuration" in page.text
        checks.append(Check("workbench through Caddy", ok, f"{page_url} -> {page.status_code}"))
    except httpx.HTTPError as error:
        checks.append(Check("workbench through Caddy", False, f"{page_url}: {error!r}"))

    try:
        answer = await websocket_opens(websocket_url(ide_url), dial=dial)
        checks.append(Check("WebSocket through the route", True, answer))
    except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as error:
        checks.append(Check("WebSocket through the route", False, repr(error)))
    return checks
