"""Tidepool's clients send a request again when its connection closed under it, like a browser.

The server here reads a request and closes the connection without an answer, a given number
of times, as Caddy's old servers do during a config change; then it answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from tidepool.client import ApiClient
from tidepool.retry import ATTEMPTS, RetryingTransport

BODY = json.dumps({"items": [], "total": 0}).encode()
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


@dataclass
class ClosingServer:
    """Closes the first ``closes`` requests unanswered; records every request line."""

    closes: int
    requests: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head.split(b"\r\n", 1)[0].decode())
        if len(self.requests) > self.closes:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()


@asynccontextmanager
async def closing_server(closes: int) -> AsyncIterator[ClosingServer]:
    server = ClosingServer(closes)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield server


async def test_an_idempotent_request_is_sent_again_and_answered() -> None:
    async with (
        closing_server(closes=ATTEMPTS - 1) as server,
        httpx.AsyncClient(transport=RetryingTransport()) as http,
    ):
        response = await http.get(server.url + "/api/workspaces")
    assert response.status_code == 200
    assert server.requests == ["GET /api/workspaces HTTP/1.1"] * ATTEMPTS


async def test_a_request_that_always_loses_its_connection_fails_after_the_last_attempt() -> None:
    async with (
        closing_server(closes=ATTEMPTS) as server,
        httpx.AsyncClient(transport=RetryingTransport()) as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url + "/")
    assert len(server.requests) == ATTEMPTS


async def test_a_post_that_lost_its_connection_is_reported_not_repeated() -> None:
    async with (
        closing_server(closes=1) as server,
        httpx.AsyncClient(transport=RetryingTransport()) as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(server.url + "/api/workspaces", json={"name": "alpha"})
    assert server.requests == ["POST /api/workspaces HTTP/1.1"]


async def test_the_cli_client_through_caddy_retries_a_read() -> None:
    async with closing_server(closes=1) as server:
        client = ApiClient.connect(url=server.url)
        try:
            assert await client.list() == {"items": [], "total": 0}
        finally:
            await client.aclose()
    assert len(server.requests) == 2
