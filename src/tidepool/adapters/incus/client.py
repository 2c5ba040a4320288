"""A thin, typed client for the Incus REST API over its unix socket.

Incus answers every call with an envelope: ``sync`` (the result is in ``metadata``), ``async``
(an operation to wait on) or ``error``. This module turns the envelope into Python values and
typed errors, and hides operations behind an explicit ``wait_operation``. It knows nothing
about workspaces.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tidepool.errors import (
    ConflictError,
    NotFoundError,
    RuntimeOperationError,
    RuntimeReadError,
    RuntimeUnavailableError,
    StorageFullError,
    TimeoutExpiredError,
)

JSON = dict[str, Any]
#: What this host's incusd is called (any other is a remote, named by its URL).
LOCAL = "incusd"
#: Methods that only read: asking again is always safe.
READS = frozenset({"GET", "HEAD"})
#: How long to wait before asking a failed read again, in seconds, once per entry.
READ_RETRY_DELAYS = (0.1, 0.4)


def unix_socket_client(socket_path: Path, timeout: float = 60.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that speaks HTTP to incusd over its unix socket."""
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    return httpx.AsyncClient(transport=transport, base_url="http://incus", timeout=timeout)


class IncusClient:
    """Calls the Incus API; raises ``NotFoundError``/``ConflictError``/... at the edge."""

    def __init__(self, http: httpx.AsyncClient, *, project: str = "", where: str = LOCAL) -> None:
        self._http = http
        #: Every request is made in this project (none: Incus's default).
        self.project = project
        #: What to call the server in a message a person reads.
        self.where = where

    @property
    def local(self) -> bool:
        """True for this host's incusd: its instances' process ids are this host's."""
        return self.where == LOCAL

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: JSON | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request and raise a typed error for any non-2xx answer. A read that
        incusd answers with a 5xx (it does, now and then, while many instances are being
        made) is asked again after ``READ_RETRY_DELAYS``: reading twice changes nothing, and
        a workspace must not fail for it. A read still failing after that is a
        ``RuntimeReadError``, which the worker retries with backoff."""
        send = functools.partial(
            self._request_once,
            method,
            path,
            json=json,
            params=params,
            content=content,
            headers=headers,
            timeout=timeout,
        )
        for delay in READ_RETRY_DELAYS:
            try:
                return await send()
            except RuntimeReadError:
                await asyncio.sleep(delay)
        return await send()

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        json: JSON | None,
        params: Mapping[str, str] | None,
        content: bytes | AsyncIterable[bytes] | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> httpx.Response:
        if self.project:
            params = {**(params or {}), "project": self.project}
        try:
            response = await self._http.request(
                method,
                path,
                json=json,
                params=params,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as error:
            raise RuntimeUnavailableError(self._unreachable(error)) from error
        if response.status_code == 403 and not self.local:
            raise RuntimeUnavailableError(self._refused(response, method, path))
        if response.status_code >= 400:
            raise _error_for(response, method, path)
        return response

    def _refused(self, response: httpx.Response, method: str, path: str) -> str:
        """A remote's 403: its operator revoked or narrowed Tidepool's trust. Nothing is
        wrong with the workspace, so this waits like an unreachable server, and says why."""
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        return (
            f"{self.where} refused Tidepool ({message}; {method} {path}): its operator may "
            "have removed Tidepool's certificate or narrowed its project. Ask for a new "
            "token and run `tidepool host join` again."
        )

    def _unreachable(self, error: httpx.TransportError) -> str:
        """Why the server could not be asked, in words an operator acts on."""
        if self.local:
            return f"Cannot reach incusd ({error!r}). Is it running? Try `tidepool host init`."
        cause = _root_cause(error)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"{self.where} presents another certificate than the one Tidepool trusted "
                f"when it joined ({cause.verify_message}): if the server's certificate was "
                "renewed on purpose, join again with a new token."
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS with {self.where} failed ({cause.reason or cause})."
        return f"Cannot reach {self.where} ({type(error).__name__}: {error or cause})."

    async def sync(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call whose answer is a ``sync`` envelope; returns its ``metadata``."""
        response = await self.request(method, path, **kwargs)
        return response.json().get("metadata")

    async def run(self, method: str, path: str, *, timeout: float = 300.0, **kwargs: Any) -> JSON:
        """A call that starts an operation; waits for it and returns its metadata."""
        response = await self.request(method, path, **kwargs)
        body = response.json()
        if body.get("type") != "async":
            metadata: JSON = body.get("metadata") or {}
            return metadata
        return await self.wait_operation(body["operation"], timeout=timeout)

    async def wait_operation(self, operation: str, *, timeout: float) -> JSON:
        """Block until the operation ends; raise ``RuntimeOperationError`` if it failed."""
        # On a cluster (or in a project) the operation comes as ``/1.0/operations/ID?project=P``:
        # the wait goes after the path, the query stays a query.
        path, _, query = operation.partition("?")
        params = dict(parse_qsl(query))
        params["timeout"] = str(int(timeout))
        try:
            response = await self.request(
                "GET", f"{path}/wait", params=params, timeout=timeout + 10
            )
        except NotFoundError as error:
            # incusd restarted under the operation and forgot it: what it did is unknown, and
            # the reconcile that asked finds out when it runs again.
            raise RuntimeUnavailableError(
                f"Incus lost operation {operation} (did incusd restart?)."
            ) from error
        body = response.json()
        metadata: JSON | None = body.get("metadata")
        if body.get("type") == "error" or metadata is None:
            raise operation_error(f"Incus: {body.get('error') or 'operation failed'}")
        status = metadata.get("status_code")
        if status == 200:
            return metadata
        if status in (103, 105):  # still running, or pending: the wait timed out
            raise TimeoutExpiredError(f"Incus operation {operation} did not finish in {timeout}s.")
        raise operation_error(f"Incus: {metadata.get('err') or metadata.get('status')}")


def _error_for(response: httpx.Response, method: str, path: str) -> Exception:
    try:
        message = response.json().get("error") or response.text
    except ValueError:
        message = response.text
    where = f"{method} {path}"
    if response.status_code == 404:
        return NotFoundError(f"Incus: {message} ({where})")
    if response.status_code == 409:
        return ConflictError(f"Incus: {message} ({where})")
    if response.status_code == 503:  # shutting down or starting: it will answer again
        return RuntimeUnavailableError(f"Incus is not ready: {message} ({where})")
    if response.status_code >= 500 and method in READS:
        return RuntimeReadError(f"Incus: {message} ({where}, HTTP {response.status_code})")
    return operation_error(f"Incus: {message} ({where}, HTTP {response.status_code})")


def _root_cause(error: BaseException) -> BaseException:
    """The first error of a chain (httpx wraps httpcore's, which wraps the ``ssl`` one)."""
    seen = error
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


#: What the kernel says, through incusd, when a write met a full filesystem (ENOSPC), and what
#: btrfs says when its quota is reached (EDQUOT).
_NO_SPACE = ("no space left on device", "disk quota exceeded")


def operation_error(message: str) -> RuntimeOperationError:
    """A failed operation, told apart when the storage pool is full: that one needs the
    operator (or the user, deleting a workspace), and the message says so."""
    if any(phrase in message.lower() for phrase in _NO_SPACE):
        return StorageFullError(
            "The storage pool is full, so Incus could not write the workspace"
            f" ({message}). Free space (delete workspaces that are no longer needed, or"
            " grow the pool: see docs/operations.md), then start the workspace again."
        )
    return RuntimeOperationError(message)
