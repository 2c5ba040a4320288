"""Incus over HTTPS: where the remote is, Tidepool's credentials for it, and joining it.

Everything lives in one directory (``DATA_DIR/incus``, root's alone): ``remote.json`` (the
URL and the project), ``client.crt`` and ``client.key`` (Tidepool's identity), ``server.crt``
(the pinned certificate). ``tidepool host join`` writes it; every later connection reads it.
Without it, Tidepool speaks to the local incusd over its unix socket, as before.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.trust import (
    TrustToken,
    fingerprint,
    host_and_port,
    make_client_certificate,
    pinned_context,
    server_certificate,
)
from tidepool.domain.names import validate_project_name
from tidepool.errors import InvalidInputError, RuntimeUnavailableError

#: Where in the data directory the remote and its credentials live.
INCUS_DIR = "incus"
REMOTE_FILE = "remote.json"


@dataclass(frozen=True, slots=True)
class RemoteIncus:
    """A joined Incus: its URL, the project Tidepool works in, and the credential files."""

    url: str
    project: str
    directory: Path

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @classmethod
    def load(cls, directory: Path) -> RemoteIncus | None:
        """The remote ``join`` recorded in ``directory``, or None (the local socket). A join
        cut short between its two renames (``_install``) left the earlier record aside:
        that one is used, never the local socket in its place."""
        for candidate in (directory, directory.with_name(directory.name + ".earlier")):
            try:
                data = json.loads((candidate / REMOTE_FILE).read_text())
            except FileNotFoundError:
                continue
            return cls(url=str(data["url"]), project=str(data["project"]), directory=candidate)
        return None

    def client(self, timeout: float = 60.0, *, in_project: bool = True) -> IncusClient:
        """The Incus API at ``url``, pinned to its certificate, in ``project`` (or in none,
        for the server-wide calls of a join)."""
        context = pinned_context(
            self.server_cert.read_text(), str(self.client_cert), str(self.client_key)
        )
        http = httpx.AsyncClient(base_url=self.url, verify=context, timeout=timeout)
        project = self.project if in_project else ""
        return IncusClient(http, project=project, where=f"Incus at {self.url}")

    def save(self) -> None:
        _write_private(
            self.directory / REMOTE_FILE, json.dumps({"url": self.url, "project": self.project})
        )


async def join(
    url: str,
    token_text: str,
    project: str,
    directory: Path,
    prepare: Callable[[IncusClient], Awaitable[object]] | None = None,
) -> RemoteIncus:
    """Have the Incus at ``url`` trust Tidepool with the one-time ``token_text``, and record
    the remote in ``directory``. ``prepare`` is given the new remote, in its project, before
    anything is recorded (a check that the project works, its profile made). Refused, with an
    earlier join's record untouched, when the server is not the one that issued the token,
    the token is spent, or ``prepare`` fails."""
    host_and_port(url)
    project = validate_project_name(project)
    token = TrustToken.parse(token_text)
    server_pem = await server_certificate(url)
    if fingerprint(server_pem) != token.fingerprint:
        raise InvalidInputError(
            f"The server at {url} is not the one that issued this token: it presents "
            f"certificate {fingerprint(server_pem)[:16]}…, the token names "
            f"{token.fingerprint[:16]}…. Check the URL (the token lists "
            f"{', '.join(token.addresses) or 'no address'})."
        )
    staging = directory.with_name(directory.name + ".joining")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        remote = await _trusted(RemoteIncus(url.rstrip("/"), project, staging), token, server_pem)
        if prepare is not None:
            client = remote.client()
            try:
                await prepare(client)
            finally:
                await client.aclose()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _install(staging, directory)
    return RemoteIncus(url=remote.url, project=project, directory=directory)


async def _trusted(remote: RemoteIncus, token: TrustToken, server_pem: str) -> RemoteIncus:
    """Write a new identity into ``remote.directory`` and spend ``token`` to have it trusted."""
    certificate, key = make_client_certificate(f"tidepool@{token.client_name}")
    _write_private(remote.client_cert, certificate)
    _write_private(remote.client_key, key)
    _write_private(remote.server_cert, server_pem)
    client = remote.client(in_project=False)
    try:
        await client.sync(
            "POST",
            "/1.0/certificates",
            json={"type": "client", "name": token.client_name, "trust_token": token.text},
        )
        server = await client.sync("GET", "/1.0")
    finally:
        await client.aclose()
    if (server or {}).get("auth") != "trusted":
        raise RuntimeUnavailableError(
            f"{remote.url} did not trust Tidepool's certificate: the token may be spent or "
            "expired; issue a new one."
        )
    remote.save()
    return remote


def _install(staging: Path, directory: Path) -> None:
    """Put the new credentials where they are read, in place of an earlier join's, whole: a
    crash between the two renames leaves no record (the local socket) and the new one staged,
    never a mix of two joins' files."""
    earlier = directory.with_name(directory.name + ".earlier")
    shutil.rmtree(earlier, ignore_errors=True)
    if directory.exists():
        directory.rename(earlier)
    staging.rename(directory)
    shutil.rmtree(earlier, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by root alone from the first byte (a key is in there)."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    partial.replace(path)
