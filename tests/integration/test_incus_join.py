"""``tidepool host join``: Tidepool trusted by a real incusd over HTTPS, through the trust-token
flow, restricted to a project of its own.

The local incusd listens on a loopback port for the test's length (``core.https_address``),
as a remote Incus host would on its network. The test plays the operator on the Incus side
(a restricted project, a token for it) and the attacker in the middle (a token naming another
server, a pinned certificate the server no longer presents), and checks the restriction holds:
the joined Tidepool sees its project and nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.incus_https import incus, incus_over_https, trust_token
from support.ports import free_port
from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.remote import RemoteIncus
from tidepool.adapters.incus.trust import fingerprint, make_client_certificate
from tidepool.bootstrap import build_runtime, incus_client
from tidepool.errors import RuntimeOperationError, RuntimeUnavailableError
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus]
PROJECT = "tpjoin"
CLIENT = "tidepool-join-test"


@pytest.fixture(scope="module")
def https_url() -> Iterator[str]:
    with incus_over_https(PROJECT, CLIENT) as url:
        yield url


def new_token() -> str:
    return trust_token(PROJECT, CLIENT)


def tidepool(data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIDEPOOL_DATA_DIR": str(data), "COLUMNS": "200"}
    env["TIDEPOOL_CONFIG"] = str(data / "none.toml")
    return subprocess.run(
        [sys.executable, "-m", "tidepool.cli", "host", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


@contextlib.asynccontextmanager
async def joined(data: Path) -> AsyncIterator[IncusClient]:
    client = incus_client(Settings(data_dir=data))
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_join_is_trusted_pinned_and_held_to_its_project(
    https_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    token = new_token()
    done = tidepool(data, "join", https_url, token, "--project", PROJECT)
    assert done.returncode == 0, said(done)
    assert f"Joined Incus at {https_url} (project {PROJECT})" in said(done)
    for name in ("client.key", "client.crt", "server.crt", "remote.json"):
        assert (data / "incus" / name).stat().st_mode & 0o077 == 0, name

    async with joined(data) as client:
        assert client.project == PROJECT and client.where == f"Incus at {https_url}"
        server = await client.sync("GET", "/1.0")
        assert server["auth"] == "trusted"
        assert server["auth_user_name"] != "root"
    # Held to its project: another project's instances are not Tidepool's to see.
    remote = RemoteIncus.load(data / "incus")
    assert remote is not None
    anywhere = remote.client(in_project=False)
    try:
        with pytest.raises(RuntimeOperationError, match="permissions for project"):
            await anywhere.request("GET", "/1.0/instances", params={"project": "default"})
    finally:
        await anywhere.aclose()
    # The Runtime port works over it, as over the socket.
    runtime = build_runtime(Settings(data_dir=data))
    try:
        assert await runtime.list() == []
    finally:
        await runtime.aclose()

    # The spent token cannot be used again, and the earlier join is kept as it was.
    kept = (data / "incus" / "client.crt").read_text()
    assert CLIENT not in incus("config", "trust", "list-tokens", "-f", "csv")
    again = tidepool(data, "join", https_url, token, "--project", PROJECT)
    assert again.returncode != 0 and "Traceback" not in said(again), said(again)
    assert (data / "incus" / "client.crt").read_text() == kept
    # A join whose project cannot be used (the token is for another) is refused whole: the
    # earlier join is still the one in use.
    elsewhere = tidepool(data, "join", https_url, new_token(), "--project", "nosuchproject")
    assert elsewhere.returncode != 0 and "Traceback" not in said(elsewhere), said(elsewhere)
    assert (data / "incus" / "client.crt").read_text() == kept
    assert RemoteIncus.load(data / "incus") == RemoteIncus(https_url, PROJECT, data / "incus")
    assert not (data / "incus.joining").exists()

    # The operator revokes the trust: a clear error, and nothing a workspace fails for.
    remote = RemoteIncus.load(data / "incus")
    assert remote is not None
    ours = fingerprint(remote.client_cert.read_text())
    incus("config", "trust", "remove", ours)
    async with joined(data) as client:
        with pytest.raises(RuntimeUnavailableError, match="removed Tidepool's certificate"):
            await client.sync("GET", "/1.0/instances")

    # Going back to the socket forgets the credentials.
    left = tidepool(data, "leave")
    assert left.returncode == 0 and "Left Incus" in said(left), said(left)
    assert not (data / "incus").exists()


async def test_a_server_other_than_the_tokens_is_refused(https_url: str, tmp_path: Path) -> None:
    """A token whose fingerprint names another server (or a URL that reaches another one):
    nothing is sent to that server, nothing is written."""
    real = json.loads(base64.b64decode(new_token()))
    other_pem, _ = make_client_certificate("someone-else")
    forged = {**real, "fingerprint": fingerprint(other_pem)}
    token = base64.b64encode(json.dumps(forged).encode()).decode()
    data = tmp_path / "data"
    done = tidepool(data, "join", https_url, token, "--project", PROJECT)
    assert done.returncode != 0
    assert "not the one that issued this token" in said(done), said(done)
    assert not (data / "incus").exists() and not (data / "incus.joining").exists()
    # The real token was not spent by the refusal.
    assert CLIENT in incus("config", "trust", "list-tokens", "-f", "csv")


async def test_a_server_that_changed_its_certificate_is_a_clear_error(
    https_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert tidepool(data, "join", https_url, new_token(), "--project", PROJECT).returncode == 0
    other_pem, _ = make_client_certificate("impostor")
    (data / "incus" / "server.crt").write_text(other_pem)
    remote = RemoteIncus.load(data / "incus")
    assert remote is not None
    client = remote.client()
    try:
        with pytest.raises(RuntimeUnavailableError, match="another certificate"):
            await client.sync("GET", "/1.0")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["http://127.0.0.1:8443", "x"], "Invalid Incus URL"),
        (["https://127.0.0.1:8443/1.0", "x"], "Invalid Incus URL"),
        (["https://127.0.0.1:8443", "not a token"], "not an Incus trust token"),
        (["https://127.0.0.1:8443", "x", "--project", "Bad/Name"], "Invalid Incus project"),
    ],
)
def test_bad_input_is_refused_before_any_connection(
    tmp_path: Path, argv: list[str], words: str
) -> None:
    done = tidepool(tmp_path / "data", "join", *argv)
    assert done.returncode != 0 and words in said(done), said(done)
    assert not (tmp_path / "data" / "incus").exists()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    real_shape = base64.b64encode(
        json.dumps(
            {"client_name": "x", "fingerprint": "ab" * 32, "addresses": [], "secret": "s"}
        ).encode()
    ).decode()
    done = tidepool(tmp_path / "data", "join", f"https://127.0.0.1:{free_port()}", real_shape)
    assert done.returncode != 0 and "Cannot reach Incus at" in said(done), said(done)
    assert "Traceback" not in said(done)
