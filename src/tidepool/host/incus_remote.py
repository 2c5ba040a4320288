"""Which Incus this installation drives: the local one (its unix socket) or a remote one it
joined over HTTPS (``tidepool host join``), and going back (``tidepool host leave``).

A join is checked before it is kept: the project must answer a list of its instances, so
a token restricted to another project, or a project that does not exist, is found at once
and not at the first create. The join then makes Tidepool's profile in the project (a
restricted project has profiles of its own), naming the bridge and pool the settings name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.remote import INCUS_DIR, RemoteIncus, join
from tidepool.host.incus_preseed import ensure_profile
from tidepool.settings import Settings


def remote_directory(settings: Settings) -> Path:
    return settings.data_dir / INCUS_DIR


async def join_incus(settings: Settings, url: str, token: str, project: str) -> RemoteIncus:
    """Trust and record the Incus at ``url``; ``TidepoolError`` (with an earlier join kept as
    it was) if it refuses or its project cannot be used."""

    async def prepare(client: IncusClient) -> None:
        await client.sync("GET", "/1.0/instances")
        await ensure_profile(client, settings)

    return await join(url, token, project, remote_directory(settings), prepare)


def leave_incus(settings: Settings) -> RemoteIncus | None:
    """Forget the remote (its credentials too); the local socket is used again. The remote's
    trust of Tidepool's certificate stays until its operator removes it."""
    directory = remote_directory(settings)
    remote = RemoteIncus.load(directory)
    for suffix in ("", ".earlier", ".joining"):  # a join cut short leaves these
        shutil.rmtree(directory.with_name(directory.name + suffix), ignore_errors=True)
    return remote
