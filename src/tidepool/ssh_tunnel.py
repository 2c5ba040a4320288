"""``tidepool ssh --stdio``: standard input and output as the SSH tunnel's WebSocket.

ssh runs this as its ``ProxyCommand`` and speaks SSH over our stdin and stdout; each read
becomes one binary WebSocket message and each message is written out as it comes. Remote,
the WebSocket goes to ``/api/workspaces/NAME/ssh`` through Caddy with the API token; on the
host, root asks the control plane over its socket (the same decision) and connects to the
workspace's bridge itself. Either way nothing listens anywhere new: the bridge is inside the
workspace, and only the host reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection

from tidepool.edge import TUNNEL_SUFFIX
from tidepool.errors import InvalidInputError, NotFoundError, RuntimeUnavailableError
from tidepool.loopback import websocket_options

CHUNK = 64 * 1024
#: What a refused bridge most often means: a workspace made from an image without SSH.
NO_BRIDGE = (
    "Workspace {name!r} does not answer SSH: one made from an image before revision 3 has no"
    " SSH server (delete and create it again), or it is still starting."
)


def tunnel_url(base_url: str, name: str) -> str:
    scheme = "wss" if base_url.startswith("https:") else "ws"
    return f"{scheme}:{base_url.split(':', 1)[1]}/api/workspaces/{name}{TUNNEL_SUFFIX}"


async def open_tunnel(name: str, url: str, token: str, api_socket: Path) -> ClientConnection:
    """The tunnel's WebSocket: through ``url`` with ``token``, or (no ``url``) straight to the
    bridge once this host's control plane admitted it."""
    if url:
        target = tunnel_url(url, name)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
    else:
        from tidepool.client import ApiClient

        client = ApiClient.connect(socket=api_socket)
        try:
            target = f"ws://{await client.ssh_tunnel(name)}/"
        finally:
            await client.aclose()
        headers = {}
    try:
        return await websockets.connect(
            target,
            additional_headers=headers,
            compression=None,
            max_size=None,
            **websocket_options(target),
        )
    except websockets.InvalidStatus as refused:
        body = bytes(refused.response.body or b"")
        raise _refusal(name, refused.response.status_code, body) from None
    except OSError as error:
        raise RuntimeUnavailableError(
            f"{NO_BRIDGE.format(name=name)} ({target}: {error})"
        ) from None


async def bridge(connection: ClientConnection) -> None:
    """Copy stdin to the tunnel and the tunnel to stdout until either side ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.fileno()

    async def up() -> None:
        while chunk := await reader.read(CHUNK):
            await connection.send(chunk)
        await connection.close()

    async def down() -> None:
        async for message in connection:
            data = message if isinstance(message, bytes) else message.encode()
            while data:
                data = data[os.write(out, data) :]

    tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await task
    await connection.close()


def _refusal(name: str, status: int, body: bytes) -> Exception:
    text = body.decode(errors="replace")
    try:
        detail = str(json.loads(text).get("detail", text))
    except (ValueError, AttributeError):
        detail = text
    if status == 404:
        return NotFoundError(detail or "No such workspace.")
    if status in (502, 503, 504):
        return RuntimeUnavailableError(NO_BRIDGE.format(name=name))
    if status == 401:
        return InvalidInputError(f"{detail} Set TIDEPOOL_TOKEN to a token with the ssh scope.")
    return InvalidInputError(f"The tunnel was refused ({status}): {detail}")
