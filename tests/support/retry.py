"""An httpx transport that tries again when Caddy closed the connection under a request.

A Caddy config change (a route added, a session taught to the session map) starts new
servers and stops the old ones; a connection accepted at that instant can be closed without
an answer. Browsers send the request again on a fresh connection; httpx raises instead. Tests
that change Caddy's config while they send requests use this, so that they test Tidepool's
answers, not that instant.
"""

from __future__ import annotations

import asyncio

import httpx

ATTEMPTS = 3
CLOSED_UNDER_US = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)


class RetryingTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(ATTEMPTS):
            try:
                return await super().handle_async_request(request)
            except CLOSED_UNDER_US:
                if attempt + 1 == ATTEMPTS:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")
