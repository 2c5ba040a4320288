"""Other local accounts and the network, played for real against a running ``tidepool serve``.

A local account that is not root must get nothing: not the API's socket (a request there acts
as the host's admin), not the database, the password hashes, the sessions, the tokens or
Caddy's config. And with no sign-in configured, nobody on the network reaches the IDEs:
Caddy listens on loopback unless the operator says otherwise, twice.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import tidepool
from support.ports import free_port
from support.serve import ServeProcess
from support.users import write_users

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
#: The unprivileged account the attacker plays (``nobody`` on Debian).
NOBODY = 65534
#: Debian's own Python (python3-minimal, installed by scripts/test-deps), which any account
#: may run; the project's interpreter may live in root's home.
SYSTEM_PYTHON = "/usr/bin/python3"

ATTEMPT = r"""
import socket, sys
try:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(b"GET /api/me HTTP/1.0\r\nX-Tidepool-User: root\r\n\r\n")
    print("ANSWERED", s.recv(200)[:40])
except OSError as error:
    print("REFUSED", type(error).__name__)
for path in sys.argv[2:]:
    try:
        open(path, "rb").read(1); print("READ", path)
    except OSError as error:
        print("REFUSED", type(error).__name__)
"""


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder every account may enter, as /var/lib is: the data dir must close itself."""
    parent = Path(tempfile.mkdtemp(prefix="tidepool-sec-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def as_nobody(*argv: str) -> str:
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


def test_a_local_account_gets_nothing_and_every_secret_is_roots_alone(open_parent: Path) -> None:
    serve = ServeProcess(open_parent / "data", free_port(), "", "tps")
    serve.database_url = f"sqlite:///{serve.data_dir / 'tidepool.db'}"
    serve.extra_env = {"TIDEPOOL_AUTH": "forward_auth"}
    env = serve.env()
    # An older layout: the data dir and the password hashes open to everyone before serve runs.
    serve.data_dir.mkdir(mode=0o755)
    write_users(serve.data_dir / "users.json", {"alice": "a-long-password"})
    (serve.data_dir / "users.json").chmod(0o644)
    serve.start()
    try:
        token = tidepool("token", "create", "alice", env=env)
        assert token.returncode == 0, token.stdout + token.stderr
        assert stat.S_IMODE(serve.data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(serve.api_socket.stat().st_mode) == 0o600
        opened = []
        for folder, folders, files in os.walk(serve.data_dir):
            for name in folders + files:
                mode = stat.S_IMODE((Path(folder) / name).lstat().st_mode)
                if mode & 0o077:
                    opened.append(f"{Path(folder) / name}: {oct(mode)}")
        assert not opened, opened
        names = ("tidepool.db", "users.json", "tokens.json", "caddy/base.json")
        secrets = [serve.data_dir / name for name in names]
        assert all(path.exists() for path in secrets), secrets

        # The attacker: a local account that is not root, through the socket and the files.
        said = as_nobody(SYSTEM_PYTHON, "-c", ATTEMPT, str(serve.api_socket), *map(str, secrets))
        assert "ANSWERED" not in said and "READ" not in said, said
        assert said.count("REFUSED") == 1 + len(secrets), said
        # Even with the data dir opened by mistake, the socket itself refuses.
        serve.data_dir.chmod(0o711)
        said = as_nobody(SYSTEM_PYTHON, "-c", ATTEMPT, str(serve.api_socket))
        assert said.startswith("REFUSED PermissionError"), said
    finally:
        serve.data_dir.chmod(0o700)
        serve.stop()
        tidepool("caddy", "stop", env=env)


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (from the kernel's tables)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address if len(address) == width else "?")
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
ANY_V4, ANY_V6 = "00000000", "0" * 32


def test_without_sign_in_caddy_listens_on_loopback_and_opening_it_says_so(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tps")
    serve.extra_env = {"TIDEPOOL_HTTP_HOST": ""}  # the default: nothing chosen
    serve.start()
    try:
        assert listening_addresses(serve.port) == {LOOPBACK_V4}
    finally:
        serve.stop()
    refused = tidepool("route", "list", env={**serve.env(), "TIDEPOOL_HTTP_HOST": "0.0.0.0"})
    assert refused.returncode == 1
    assert "open_without_sign_in" in refused.stdout + refused.stderr

    serve.extra_env = {"TIDEPOOL_HTTP_HOST": "", "TIDEPOOL_OPEN_WITHOUT_SIGN_IN": "true"}
    serve.start()
    try:
        assert listening_addresses(serve.port) & {ANY_V4, ANY_V6}
        assert "OPEN WITHOUT SIGN-IN" in serve.log()
    finally:
        serve.stop()
