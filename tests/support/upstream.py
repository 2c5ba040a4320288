"""A stand-in for code-server: answers HTTP with the path it saw and echoes WebSockets.

It listens on a loopback address of its own (127.0.0.0/8), so several can share one port,
which is how Caddy's map reaches ``{address}:{port}`` for each workspace.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve, unix_serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


def _answer(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    local = connection.local_address
    body = json.dumps(
        {
            "path": request.path,
            "host": local[0] if isinstance(local, tuple) else "unix",
            "authorization": request.headers.get("Authorization"),
            "user": request.headers.get("X-Tidepool-User"),
        }
    ).encode()
    headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
    return Response(HTTPStatus.OK.value, "OK", headers, body)


async def _echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(f"{connection.local_address[0]}:{message}")


@contextlib.asynccontextmanager
async def unix_upstream(path: str) -> AsyncIterator[str]:
    """The same stand-in on a unix socket (where the control plane's API listens)."""
    async with unix_serve(_echo, path, process_request=_answer):
        yield path


@contextlib.asynccontextmanager
async def upstream(host: str, port: int) -> AsyncIterator[str]:
    async with serve(_echo, host, port, process_request=_answer):
        yield host
