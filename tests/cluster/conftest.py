"""One Incus cluster of two members for the whole tier, with the workspace image imported and
Tidepool's profile for the routed bridges made; all of it removed afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from e2e.conftest import artifacts, browser
from support.incus_cluster import WORKSPACE_BRIDGE, IncusCluster, incus_cluster
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.settings import get_settings

#: Tidepool's profile on the cluster: the routed bridge each member has, port isolation as on
#: one host, and the cluster's pool.
PROFILE = {
    "description": "Tidepool workspaces (routed bridges)",
    "config": {},
    "devices": {
        "eth0": {
            "type": "nic",
            "nictype": "bridged",
            "parent": WORKSPACE_BRIDGE,
            "name": "eth0",
            "security.port_isolation": "true",
        },
        "root": {"type": "disk", "path": "/", "pool": "data"},
    },
}


__all__ = ["artifacts", "browser"]  # the browser tier's, for the edge test here


@pytest.fixture(scope="session")
def cluster() -> Iterator[IncusCluster]:
    # A directory of its own under /tmp: a container's root (an unprivileged uid) must pass
    # through every directory above the member's files, and pytest's are root's alone.
    directory = Path(tempfile.mkdtemp(prefix="tpc", dir="/tmp"))
    try:
        image = get_settings().image_alias
        subprocess.run(["incus", "image", "export", image, str(directory / "image")], check=True)
        with incus_cluster(directory / "members") as made:
            tarball = next(directory.glob("image*"))
            made.first.incus("image", "import", str(tarball), "--alias", image)
            tarball.unlink()
            body = json.dumps({"name": "tidepool", **PROFILE})
            made.first.incus("query", "-X", "POST", "-d", body, "/1.0/profiles")
            try:
                yield made
            finally:
                listed = made.first.incus("list", "--all-projects", "-f", "csv", "-c", "en")
                for line in listed.splitlines():
                    project, name = line.split(",")[:2]
                    made.first.incus("delete", "-f", name, "--project", project, check=False)
                made.first.incus("profile", "delete", "tidepool", check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def node1(cluster: IncusCluster) -> AsyncIterator[IncusClient]:
    """The cluster's API through its first member's socket."""
    client = IncusClient(unix_socket_client(cluster.first.incus_dir / "unix.socket"))
    try:
        yield client
    finally:
        await client.aclose()
