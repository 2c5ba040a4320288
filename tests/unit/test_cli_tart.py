"""`tidepool vm ... --runtime tart` drives Tart through its CLI (here the fake `tart`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes.tart_env import FAKE_TART, FakeTart
from tidepool.cli.app import app
from tidepool.cli.vm import setup_plan
from tidepool.domain.ide import SSH_BRIDGE_PORT
from tidepool.settings import Settings

IMAGE = "ghcr.io/cirruslabs/ubuntu:latest"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTart:
    fake = FakeTart(tmp_path)
    fake.add_remote_image(IMAGE)
    bin_dir = tmp_path / "bin"
    (bin_dir / "tart").symlink_to(FAKE_TART)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    return fake


def running(fake: FakeTart, vm: str) -> bool:
    """A fake VM runs while the `tart run` process holding it lives, as with Tart."""
    pid = int(fake.vm(vm).get("pid") or 0)
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_vm_start_stop_delete_on_tart(fake: FakeTart) -> None:
    runner = CliRunner()
    started = runner.invoke(
        app, ["vm", "start", "-n", "alice", "--runtime", "tart", "--image", IMAGE]
    )
    assert started.exit_code == 0, started.output
    address = started.output.strip().splitlines()[-1]
    assert address.startswith("127.")
    (vm,) = fake.read()["vms"]  # named by the one rule: from the workspace's id, not "alice"
    assert vm.startswith("tidepool-ws-ws-") and "alice" not in vm
    assert running(fake, vm)

    stopped = runner.invoke(app, ["vm", "stop", "-n", "alice", "--runtime", "tart"])
    assert stopped.exit_code == 0, stopped.output
    assert not running(fake, vm)

    deleted = runner.invoke(app, ["vm", "delete", "-n", "alice", "--runtime", "tart"])
    assert deleted.exit_code == 0, deleted.output
    assert vm not in fake.read()["vms"]


def test_an_unknown_runtime_is_refused(fake: FakeTart) -> None:
    result = CliRunner().invoke(app, ["vm", "stop", "-n", "alice", "--runtime", "docker"])
    assert result.exit_code == 1
    assert "Unknown runtime 'docker'" in result.output


def test_building_the_tart_image_off_a_mac_says_where_it_works(fake: FakeTart) -> None:
    result = CliRunner().invoke(app, ["image", "build", "--runtime", "tart"])
    assert result.exit_code == 1
    assert "built on a Mac" in result.output


def test_a_tart_vm_keeps_its_sshd_open_to_root_and_gets_no_bridge() -> None:
    """The Tart adapter reaches a VM without the guest agent over SSH as root, so ``vm setup``
    must not narrow its sshd to the tunnel's shape (loopback, dev only); Incus gets both."""
    tart = setup_plan(Settings(runtime="tart")).environment
    incus = setup_plan(Settings(runtime="incus")).environment
    assert "TIDEPOOL_SSH_BRIDGE_PORT" not in tart
    assert incus["TIDEPOOL_SSH_BRIDGE_PORT"] == str(SSH_BRIDGE_PORT)
