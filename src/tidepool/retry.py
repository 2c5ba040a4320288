"""An httpx transport that sends a request again when Caddy closed the connection under it.

Every Caddy config change (a workspace route added or removed, a session taught to the
session map) starts new servers and stops the old ones, and the old ones close their idle
kept-alive connections. A request written onto such a connection at that instant gets no
answer (see "Known limit" in docs/architecture.md). Browsers send it again on a fresh
connection; httpx raises instead, so Tidepool's own clients use this transport to behave like
a browser.

Only what cannot do harm twice is sent again: any request that never reached the server (the
connection failed), and idempotent methods (RFC 9110, section 9.2.2) that lost their
connection before the answer. A ``POST`` that lost its connection is reported, not repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import httpx

ATTEMPTS = 3
PAUSE_SECONDS = 0.05
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: The connection closed after the request may have been sent.
CLOSED_UNDER_REQUEST = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


class RetryingTransport(httpx.AsyncHTTPTransport):
    """An ``AsyncHTTPTransport`` that tries up to ``ATTEMPTS`` times, as described above."""

    def __init__(
        self, *, methods: Collection[str] = IDEMPOTENT_METHODS, uds: str | None = None
    ) -> None:
        super().__init__(uds=uds)
        self._methods = frozenset(methods)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await super().handle_async_request(request)
            except httpx.ConnectError:
                if attempt == ATTEMPTS:
                    raise
            except CLOSED_UNDER_REQUEST:
                if attempt == ATTEMPTS or request.method not in self._methods:
                    raise
            await asyncio.sleep(PAUSE_SECONDS)
        raise AssertionError("unreachable: the last attempt returns or raises")
