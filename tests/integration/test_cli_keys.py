"""``tidepool key add|list|remove``: the real CLI, in a process of its own, against the API on
its socket (as root on the host uses it). Bad input is a readable error, exit 1, and adds
nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.cli_host import cli_host, run_cli
from tidepool.auth.ssh_keys import SshKeyStore


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The environment of a CLI on a host whose API answers on its socket."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    keys = SshKeyStore(tmp_path / "data" / "ssh_keys.json")
    async with cli_host(tmp_path / "data", ssh_keys=keys) as env:
        yield {**env, "HOME": str(home)}


async def tidepool(env: dict[str, str], *argv: str, stdin: str = "") -> tuple[int, str]:
    return await run_cli(env, *argv, stdin=stdin, folded=False)


def keygen(path: Path, *argv: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", *argv, "-N", "", "-C", "ann@laptop", "-f", str(path)], check=True
    )
    return Path(f"{path}.pub").read_text().strip()


async def test_a_key_is_added_from_the_usual_place_listed_and_removed(
    host: dict[str, str],
) -> None:
    line = keygen(Path(host["HOME"]) / ".ssh" / "id_ed25519", "-t", "ed25519")
    code, out = await tidepool(host, "key", "add")
    assert code == 0, out
    code, out = await tidepool(host, "key", "list", "--json")
    keys = json.loads(out)
    assert [k["public_key"] for k in keys] == [line] and keys[0]["name"] == "ann@laptop"
    second = keygen(Path(host["HOME"]) / "work", "-t", "ecdsa")
    code, out = await tidepool(host, "key", "add", "-", "--name", "work", stdin=second)
    assert code == 0, out
    code, out = await tidepool(host, "key", "list")
    assert "ann@laptop" in out and "work" in out and keys[0]["fingerprint"] in out
    code, out = await tidepool(host, "key", "remove", keys[0]["id"])
    assert code == 0
    code, out = await tidepool(host, "key", "list", "--json")
    assert [k["name"] for k in json.loads(out)] == ["work"]


async def test_bad_input_is_a_readable_error_and_adds_nothing(
    host: dict[str, str], tmp_path: Path
) -> None:
    weak = tmp_path / "weak"
    keygen(weak, "-t", "rsa", "-b", "1024")
    attempts = {
        ("key", "add"): "No public key in ~/.ssh",
        ("key", "add", str(weak)): "looks like a private key",
        ("key", "add", f"{weak}.pub"): "too weak",
        ("key", "add", str(tmp_path / "missing.pub")): "Cannot read",
        ("key", "remove", "000000000000"): "no SSH key",
        ("key", "list", "--url", "http://127.0.0.1:9", "--user", "ann"): "--user is for root",
    }
    for argv, message in attempts.items():
        code, out = await tidepool(host, *argv)
        assert code == 1, (argv, out)
        assert message in out, (argv, out)
    code, out = await tidepool(host, "key", "list", "--json")
    assert json.loads(out) == []
