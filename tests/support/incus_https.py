"""The local incusd as a remote Incus: listening on a loopback HTTPS port, with a restricted
project for Tidepool and trust tokens for it, all undone afterwards.

A remote Incus host does the same on its network (``docs/scale-out.md``); on one machine, the
loopback port stands in for it. The project shares the default project's images and networks,
so the workspace image and bridge are there as on the socket; its profile is its own.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

from support.ports import free_port

#: What a team's operator sets on Tidepool's project (docs/scale-out.md). A restricted project
#: has profiles of its own (Incus insists); ``tidepool host join`` makes Tidepool's there.
PROJECT_CONFIG = (
    "features.images=false",
    "features.profiles=true",
    "restricted=true",
    "restricted.cluster.target=allow",
)


def incus(*argv: str) -> str:
    done = subprocess.run(["incus", *argv], check=True, capture_output=True, text=True)
    return done.stdout.strip()


@contextlib.contextmanager
def incus_over_https(project: str, client: str) -> Iterator[str]:
    """Yield the HTTPS URL of the local incusd, with ``project`` made; on the way out, every
    certificate and token named ``client``, the project and the listener are removed."""
    port = free_port()
    before = incus("config", "get", "core.https_address")
    assert not before, f"incusd already listens on {before}: a test must not take it over"
    incus("config", "set", "core.https_address", f"127.0.0.1:{port}")
    config = [flag for item in PROJECT_CONFIG for flag in ("-c", item)]
    try:
        incus("project", "create", project, *config)
        yield f"https://127.0.0.1:{port}"
    finally:
        for certificate in json.loads(incus("query", "/1.0/certificates?recursion=1")):
            if certificate["name"] == client:
                incus("config", "trust", "remove", certificate["fingerprint"])
        with contextlib.suppress(subprocess.CalledProcessError):
            incus("config", "trust", "revoke-token", client)
        with contextlib.suppress(subprocess.CalledProcessError):
            for profile in incus("profile", "list", "--project", project, "-f", "csv").splitlines():
                if profile.split(",")[0] != "default":
                    incus("profile", "delete", profile.split(",")[0], "--project", project)
            incus("project", "delete", project)
        incus("config", "unset", "core.https_address")


def trust_token(project: str, client: str) -> str:
    """A new one-time token for ``client``, restricted to ``project`` (an earlier unspent one
    of the same name is revoked first)."""
    with contextlib.suppress(subprocess.CalledProcessError):
        incus("config", "trust", "revoke-token", client)
    return incus("config", "trust", "add", client, "--projects", project, "--restricted", "-q")
