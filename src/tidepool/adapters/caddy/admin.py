"""A small client for Caddy's admin API (over its unix socket).

Single-item changes (POST to append, PATCH or DELETE one ``/id/...``) are serialized by Caddy
itself; whole-config changes go through ``/load``. Errors become ``ProxyError`` or
``NotFoundError`` at the edge.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tidepool.errors import NotFoundError, ProxyError

CONNECT_ATTEMPTS = 10
CONNECT_BACKOFF = 0.05


class CaddyAdmin:
    """Reads and changes Caddy's running config."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @classmethod
    def over_unix_socket(cls, socket: Path, timeout: float = 30.0) -> CaddyAdmin:
        transport = httpx.AsyncHTTPTransport(uds=str(socket))
        # Caddy checks the Host header of admin requests; over a unix socket it must be empty
        # or localhost.
        return cls(
            httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=timeout)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = None if body is None else json.dumps(body, separators=(",", ":"))
        headers = {"Content-Type": "application/json"} if content is not None else None
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                response = await self._http.request(method, path, content=content, headers=headers)
                break
            except httpx.ConnectError as error:
                # A config load restarts the admin endpoint: its socket is briefly gone.
                if attempt + 1 < CONNECT_ATTEMPTS:
                    await asyncio.sleep(CONNECT_BACKOFF)
                    continue
                raise ProxyError(
                    f"Cannot reach Caddy's admin API ({error!r}); is it running? "
                    "Try `tidepool caddy bootstrap`."
                ) from error
            except (httpx.RemoteProtocolError, httpx.ReadError) as error:
                # A config load closes the admin endpoint's open connections (as a protocol
                # error, or a reset read): a read caught there is asked again (a change is
                # not: it may have been applied).
                if method == "GET" and attempt + 1 < CONNECT_ATTEMPTS:
                    await asyncio.sleep(CONNECT_BACKOFF)
                    continue
                raise ProxyError(f"Caddy's admin API failed: {error!r}") from error
            except httpx.TransportError as error:
                raise ProxyError(f"Caddy's admin API failed: {error!r}") from error
        if response.status_code == 404 or (
            response.status_code == 400 and "unknown object ID" in response.text
        ):
            raise NotFoundError(f"Caddy has no {path}")
        if response.status_code >= 400:
            raise ProxyError(f"Caddy refused {method} {path}: {response.text.strip()}")
        return response

    async def get(self, path: str) -> Any:
        response = await self._send("GET", path)
        return response.json()

    async def post(self, path: str, body: Any) -> None:
        await self._send("POST", path, body)

    async def patch(self, path: str, body: Any) -> None:
        await self._send("PATCH", path, body)

    async def delete(self, path: str) -> None:
        await self._send("DELETE", path)

    async def load(self, config: Any) -> None:
        """Replace the whole config atomically."""
        await self._send("POST", "/load", config)

    async def ping(self) -> bool:
        try:
            await self._send("GET", "/config/")
        except ProxyError:
            return False
        return True
