"""``*.localhost`` for Tidepool's own HTTP clients, which do not resolve it as browsers do.

Browsers send ``alice.localhost`` to loopback without asking DNS (RFC 6761); the C library
here does not. ``verify`` and the tests open workspace origins on ``localhost``, so their
clients connect to 127.0.0.1 while the request keeps its own ``Host`` (and cookies stay
those of the name the browser would use).
"""

from __future__ import annotations

from typing import Any

import httpx

LOOPBACK = "127.0.0.1"


def is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


class LoopbackNames(httpx.AsyncBaseTransport):
    """Send requests for ``*.localhost`` to 127.0.0.1 through ``inner``; others unchanged."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_localhost_name(request.url.host):
            return await self._inner.handle_async_request(request)
        # A copy: the original stays the request the response (and its cookies) belong to.
        sent = httpx.Request(
            request.method,
            request.url.copy_with(host=LOOPBACK),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(sent)

    async def aclose(self) -> None:
        await self._inner.aclose()


def websocket_options(url: str) -> dict[str, Any]:
    """Extra ``websockets.connect`` options: dial loopback for a ``*.localhost`` URL."""
    host = httpx.URL(url).host
    return {"host": LOOPBACK} if is_localhost_name(host) else {}
