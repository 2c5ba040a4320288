"""A client for Tidepool's API, used by the CLI and by tests.

It talks to ``tidepool serve`` over the API's unix socket by default (no network, works even
while Caddy restarts), or to a URL (``--url http://host:8080``) through Caddy. Through Caddy it
sends an idempotent request again when a Caddy config change closed its connection, as a
browser would (``tidepool.retry``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tidepool.edge import TUNNEL_HEADER, USER_HEADER
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeUnavailableError,
    TidepoolError,
)
from tidepool.retry import RetryingTransport

JSON = dict[str, Any]


class ApiClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @classmethod
    def connect(
        cls, *, socket: Path | None = None, url: str = "", user: str = "", token: str = ""
    ) -> ApiClient:
        """Through Caddy (``url``, with an API ``token`` when sign-in is on) or the API's
        socket; over the socket, root on the host may act as ``user`` (Caddy replaces that
        header on everything that comes through it)."""
        if url:
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            return cls(
                httpx.AsyncClient(
                    transport=RetryingTransport(),
                    base_url=url.rstrip("/"),
                    timeout=30,
                    headers=auth,
                )
            )
        if socket is None:
            raise InvalidInputError("Give the API's socket or URL.")
        transport = httpx.AsyncHTTPTransport(uds=str(socket))
        headers = {USER_HEADER: user} if user else {}
        return cls(
            httpx.AsyncClient(
                transport=transport, base_url="http://tidepool", timeout=30, headers=headers
            )
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> JSON:
        try:
            response = await self._http.request(method, f"/api{path}", **kwargs)
        except httpx.TransportError as error:
            raise RuntimeUnavailableError(
                f"Cannot reach the Tidepool API ({error!r}); is `tidepool serve` running?"
            ) from error
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204:
            return {}
        body: JSON = response.json()
        return body

    async def create(
        self, name: str, template: str | None = None, **fields: int | str | None
    ) -> JSON:
        """A new workspace from ``template`` (``default``); ``fields``: ``cpus``,
        ``memory_mib``, ``disk_gib``, ``repository``, ``branch``, where not None."""
        body: JSON = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
        if template:
            body["template"] = template
        return await self._call("POST", "/workspaces", json=body)

    async def templates(self) -> JSON:
        return await self._call("GET", "/templates")

    async def pool(self) -> JSON:
        """The warm pools (admins only)."""
        return await self._call("GET", "/pool")

    async def keys(self) -> JSON:
        """The caller's SSH public keys."""
        return await self._call("GET", "/keys")

    async def add_key(self, public_key: str, name: str = "") -> JSON:
        return await self._call("POST", "/keys", json={"public_key": public_key, "name": name})

    async def remove_key(self, key_id: str) -> None:
        await self._call("DELETE", f"/keys/{key_id}")

    async def ssh_tunnel(self, name: str) -> str:
        """Where an SSH tunnel into ``name`` goes (``ADDRESS:PORT``), if the caller may open
        one: the question Caddy asks for a remote client, asked by root on the host."""
        try:
            response = await self._http.get(f"/api/workspaces/{name}/ssh/authorize")
        except httpx.TransportError as error:
            raise RuntimeUnavailableError(f"Cannot reach the Tidepool API ({error!r}).") from error
        if response.status_code >= 400:
            raise _error(response)
        return response.headers[TUNNEL_HEADER]

    async def dotfiles(self) -> JSON:
        return await self._call("GET", "/me/dotfiles")

    async def set_dotfiles(self, url: str | None, branch: str = "") -> JSON:
        return await self._call("PUT", "/me/dotfiles", json={"url": url, "branch": branch})

    async def git_credentials(self) -> JSON:
        return await self._call("GET", "/me/git-credentials")

    async def set_git_credential(self, host: str, username: str, secret: str) -> JSON:
        body = {"username": username, "secret": secret}
        return await self._call("PUT", f"/me/git-credentials/{quote(host, safe=':')}", json=body)

    async def remove_git_credential(self, host: str) -> JSON:
        return await self._call("DELETE", f"/me/git-credentials/{quote(host, safe=':')}")

    async def logs(self, name: str) -> JSON:
        return await self._call("GET", f"/workspaces/{name}/logs")

    async def list(self, status: str | None = None, limit: int = 500) -> JSON:
        params: JSON = {"limit": limit}
        if status:
            params["status"] = status
        return await self._call("GET", "/workspaces", params=params)

    async def get(self, name: str) -> JSON:
        return await self._call("GET", f"/workspaces/{name}")

    async def keepalive(self, name: str, duration: str | None) -> JSON:
        """Hold off idle stops for ``duration`` (``3h``); None ends the keepalive."""
        if duration is None:
            return await self._call("DELETE", f"/workspaces/{name}/keepalive")
        return await self._call(
            "POST", f"/workspaces/{name}/keepalive", json={"duration": duration}
        )

    async def idle_timeout(self) -> JSON:
        """The caller's own idle timeout, the default and the bounds."""
        return await self._call("GET", "/me/idle-timeout")

    async def choose_idle_timeout(self, minutes: float | None) -> JSON:
        """Choose the caller's idle timeout in minutes; None goes back to the default."""
        if minutes is None:
            return await self._call("DELETE", "/me/idle-timeout")
        return await self._call("PUT", "/me/idle-timeout", json={"minutes": minutes})

    async def move(self, name: str, member: str) -> JSON:
        """Move the stopped workspace ``name`` to cluster member ``member``."""
        return await self._call(
            "POST", f"/workspaces/{name}/move", json={"member": member}, timeout=1800
        )

    async def snapshots(self, name: str) -> JSON:
        return await self._call("GET", f"/workspaces/{name}/snapshots")

    async def take_snapshot(self, name: str, snapshot: str) -> JSON:
        return await self._call("POST", f"/workspaces/{name}/snapshots", json={"name": snapshot})

    async def delete_snapshot(self, name: str, snapshot: str) -> JSON:
        return await self._call("DELETE", f"/workspaces/{name}/snapshots/{snapshot}")

    async def restore(self, name: str, snapshot: str) -> JSON:
        return await self._call("POST", f"/workspaces/{name}/restore", json={"snapshot": snapshot})

    async def rebuild(self, name: str, template: str | None = None) -> JSON:
        return await self._call("POST", f"/workspaces/{name}/rebuild", json={"template": template})

    async def fork(self, name: str, new: str) -> JSON:
        return await self._call("POST", f"/workspaces/{name}/fork", json={"name": new})

    async def undelete(self, name: str) -> JSON:
        return await self._call("POST", f"/workspaces/{name}/undelete")

    async def act(self, name: str, action: str) -> JSON:
        if action == "delete":
            return await self._call("DELETE", f"/workspaces/{name}")
        return await self._call("POST", f"/workspaces/{name}/{action}")

    async def events(self, name: str, after: int = 0) -> AsyncIterator[JSON]:
        """Follow the workspace's server-sent events until the caller stops reading."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        async with self._http.stream(
            "GET", f"/api/workspaces/{name}/events", headers=headers, timeout=None
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error(response)
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []


def _error(response: httpx.Response) -> TidepoolError:
    try:
        detail = str(response.json().get("detail", response.text))
    except ValueError:
        detail = response.text
    if response.status_code == 401:
        return InvalidInputError(
            f"{detail} Set TIDEPOOL_TOKEN to an API token (`tidepool token create USER`)."
        )
    if response.status_code == 404:
        return NotFoundError(detail)
    if response.status_code == 409:
        return ConflictError(detail)
    if 400 <= response.status_code < 500:
        return InvalidInputError(detail)
    return RuntimeUnavailableError(f"Tidepool API error {response.status_code}: {detail}")
