"""A stand-in for a workspace's HTTP server that echoes what reached it, any method included.

Unlike ``upstream`` (built on the WebSocket server, GET only), it takes request bodies, so a
test can check that a POST arrives whole after Caddy asked the control plane about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

Scope = dict[str, Any]
#: What a hostile workspace answers under ``/hostile``: it tries to set Tidepool's cookies
#: (for the whole domain too) and to widen a service worker's scope beyond its path.
HOSTILE_HEADERS = [
    (b"set-cookie", b"tidepool_session=planted; Path=/; Domain=example.test"),
    (b"set-cookie", b"TIDEPOOL_GRANT=planted; Path=/"),
    (b"set-cookie", b"__Host-tidepool_session=planted; Path=/; Secure"),
    (b"set-cookie", b"theme=dark; Path=/"),
    (b"service-worker-allowed", b"/"),
]


async def echo_app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    query = scope["query_string"].decode()
    answer = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"] + (f"?{query}" if query else ""),
            "body": body.decode(),
            "cookie": headers.get("cookie"),
            "authorization": headers.get("authorization"),
        }
    ).encode()
    extra = HOSTILE_HEADERS if scope["path"].startswith("/hostile") else []
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def serving(app: Any, *, host: str = "", port: int = 0, uds: str = "") -> AsyncIterator[None]:
    """Serve an ASGI app with uvicorn in this event loop (on a TCP port or a unix socket)."""
    config = uvicorn.Config(
        app,
        host=host or "127.0.0.1",
        port=port,
        uds=uds or None,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner owns the signals."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()
