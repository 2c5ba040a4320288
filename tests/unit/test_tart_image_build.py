"""The Tart image build gives Packer what the template requires, and the image trusts the key
the runtime offers; against the fake ``packer`` and ``tart`` (``tests/fakes``).

The whole path (build, create, route, verify, stop, start, delete) is in
``tests/integration/test_tart_platform.py``; here are the ways it goes wrong, each fast.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes.tart_env import FakeTart
from tidepool.adapters.tart.keys import ensure_key_pair
from tidepool.adapters.tart.runtime import TartRuntime
from tidepool.cli.app import app
from tidepool.errors import RuntimeOperationError
from tidepool.images import tart as tart_images
from tidepool.ports import InstanceSpec

IMAGE = tart_images.IMAGE_NAME
TEMPLATE = str(tart_images.PACKER_TEMPLATE)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTart:
    """The fakes first on PATH, a private data directory, and the build believing it is on
    a Mac (the fakes stand in for its Tart and Packer)."""
    fake = FakeTart(tmp_path / "tart")
    bin_dir = fake.install_commands()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for key, value in {**fake.env, **fake.packer_env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("TIDEPOOL_TART_ALPINE_ISO", raising=False)
    monkeypatch.setattr(tart_images, "is_macos", lambda: True)
    return fake


def packer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["packer", *args], capture_output=True, text=True, timeout=60)


def test_packer_refuses_what_the_build_used_to_pass(fake: FakeTart) -> None:
    assert packer("init", TEMPLATE).returncode == 0
    old = packer("build", "-var", "npm_registry=https://registry.npmjs.org", TEMPLATE)
    assert old.returncode == 1
    assert 'Error: Unset variable "alpine_iso"' in old.stderr
    assert 'Error: Unset variable "ssh_authorized_key"' in old.stderr
    unknown = packer("build", "-var", "alpine_isoo=/x.iso", TEMPLATE)
    assert "Error: Undefined -var variable" in unknown.stderr
    not_a_key = packer(
        "build", "-var", "alpine_iso=/x.iso", "-var", "ssh_authorized_key=hunter2", TEMPLATE
    )
    assert "must be one OpenSSH public key line" in not_a_key.stderr
    assert IMAGE not in fake.read()["images"]


def test_the_build_passes_every_required_variable(fake: FakeTart, tmp_path: Path) -> None:
    iso = tmp_path / "alpine-virt-3.23.0-aarch64.iso"
    iso.write_bytes(b"iso")
    pair = ensure_key_pair(tmp_path / "key" / "id_ed25519")
    variables = tart_images.packer_variables(iso, pair.public_key, "")
    for argv in tart_images.packer_commands(variables):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    image = fake.read()["images"][IMAGE]
    assert image["authorized_keys"] == [pair.public_key]
    assert image["root_locked"] is False  # Alpine's sshd would refuse the key otherwise
    assert image["agent"] is False and image["code_server"] is True


def test_without_an_iso_the_build_says_where_to_get_one(fake: FakeTart) -> None:
    result = CliRunner().invoke(app, ["image", "build", "--runtime", "tart"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "alpinelinux.org" in output and "--alpine-iso" in output, output
    assert "tart_alpine_iso" in output
    assert fake.read()["images"] == {}


def test_an_x86_iso_is_refused_before_packer_runs(fake: FakeTart, tmp_path: Path) -> None:
    iso = tmp_path / "alpine-virt-3.23.0-x86_64.iso"
    iso.write_bytes(b"iso")
    result = CliRunner().invoke(
        app, ["image", "build", "--runtime", "tart", "--alpine-iso", str(iso)]
    )
    assert result.exit_code == 1
    assert "aarch64" in result.output
    assert not (Path(fake.packer_env["PACKER_PLUGIN_PATH"])).exists()  # no `packer init`


def test_a_key_made_after_the_image_means_a_rebuild(fake: FakeTart, tmp_path: Path) -> None:
    fake.add_image(IMAGE, agent=False, authorized_keys=["ssh-ed25519 AAAAsomeoneelse x"])
    iso = tmp_path / "alpine-virt-3.23.0-aarch64.iso"
    iso.write_bytes(b"iso")
    build = ["image", "build", "--runtime", "tart", "--alpine-iso", str(iso)]
    kept = CliRunner().invoke(app, build)
    assert kept.exit_code == 1
    assert "--force" in kept.output
    rebuilt = CliRunner().invoke(app, [*build, "--force"])
    assert rebuilt.exit_code == 0, rebuilt.output
    key = tmp_path / "data" / "tart" / "id_ed25519.pub"
    assert fake.read()["images"][IMAGE]["authorized_keys"] == [key.read_text().strip()]


def test_the_key_pair_is_private_and_stable(tmp_path: Path) -> None:
    private = tmp_path / "state" / "id_ed25519"
    first = ensure_key_pair(private)
    assert first.created
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    private.chmod(0o644)
    private.with_name("id_ed25519.pub").unlink()
    again = ensure_key_pair(private)
    assert not again.created
    assert again.public_key.split()[:2] == first.public_key.split()[:2]  # derived again
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # ssh would ignore a 0644 key


@pytest.fixture
async def runtime(fake: FakeTart) -> AsyncIterator[TartRuntime]:
    runtime = fake.runtime()
    yield runtime
    for instance in await runtime.list():
        await runtime.delete(instance.name)


async def test_exec_needs_the_key_the_image_trusts(fake: FakeTart, runtime: TartRuntime) -> None:
    pair = ensure_key_pair(runtime.ssh_key_path)
    fake.add_image("ours", agent=False, authorized_keys=[pair.public_key])
    fake.add_image("theirs", agent=False, authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1 x"])
    for name, image in (("alice", "ours"), ("bob", "theirs")):
        await runtime.create(InstanceSpec(name=name, image=image))
        await runtime.start(name)
    assert (await runtime.exec("alice", ["id", "-u"])).stdout == "0\n"
    with pytest.raises(RuntimeOperationError, match="Permission denied") as refused:
        await runtime.exec("bob", ["id", "-u"])
    assert "tidepool image build --runtime tart --force" in str(refused.value)
