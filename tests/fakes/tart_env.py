"""A fake ``tart`` set up in a temporary directory, and a ``TartRuntime`` that uses it.

The fake (``tests/fakes/tart``) keeps its VMs in a JSON file; this module writes the images it
starts with, reads the file back for assertions, and builds runtimes pointed at it. The fake
also answers as ``ssh`` when called through a symlink of that name, for the fallback path.
``install_commands`` puts ``tart``, ``ssh`` and the fake ``packer`` (``tests/fakes/packer``,
which builds images into the same state) in one directory, for a ``PATH`` like a Mac's.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tidepool.adapters.tart.guest import SSHSettings
from tidepool.adapters.tart.runtime import TartRuntime

FAKE_TART = Path(__file__).with_name("tart")
FAKE_PACKER = Path(__file__).with_name("packer")


class FakeTart:
    """One fake Tart installation under ``root``."""

    def __init__(self, root: Path, *, max_running: int = 2) -> None:
        self.root = root
        self.state_path = root / "fake-tart.json"
        self.ssh = root / "bin" / "ssh"
        self.ssh.parent.mkdir(parents=True, exist_ok=True)
        if not self.ssh.exists():
            self.ssh.symlink_to(FAKE_TART)
        self.write({"images": {}, "registry": {}, "vms": {}, "max_running": max_running})

    @property
    def env(self) -> dict[str, str]:
        return {"FAKE_TART_STATE": str(self.state_path)}

    @property
    def packer_env(self) -> dict[str, str]:
        """Where the fake ``packer init`` installs plugins (never ``~/.config/packer``)."""
        return {"PACKER_PLUGIN_PATH": str(self.root / "packer-plugins")}

    def install_commands(self) -> Path:
        """``tart``, ``ssh`` and ``packer`` in one directory; returns it, to go first on PATH.

        ``packer`` is a wrapper that runs the fake with this interpreter: it needs python-hcl2,
        which the system's ``python3`` may not have.
        """
        bin_dir = self.ssh.parent
        tart = bin_dir / "tart"
        if not tart.exists():
            tart.symlink_to(FAKE_TART)
        packer = bin_dir / "packer"
        packer.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_PACKER))} "$@"\n'
        )
        packer.chmod(0o755)
        return bin_dir

    def read(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_path.read_text())
        return state

    def write(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state))

    def add_image(self, name: str, **knobs: Any) -> None:
        """A local image: ``agent=False`` (no guest agent), ``no_ip=True``, ``run_error=...``."""
        state = self.read()
        state["images"][name] = knobs
        self.write(state)

    def add_remote_image(self, reference: str, **knobs: Any) -> None:
        state = self.read()
        state["registry"][reference] = knobs
        self.write(state)

    def tart(self, *args: str) -> None:
        """Run the fake ``tart`` directly, as a user at the Mac would (outside Tidepool)."""
        subprocess.run(
            [str(FAKE_TART), *args],
            env={"PATH": "/usr/bin:/bin", **self.env},
            check=True,
            capture_output=True,
        )

    def vm(self, name: str) -> dict[str, Any]:
        vm: dict[str, Any] = self.read()["vms"][name]
        return vm

    def runtime(self, **overrides: Any) -> TartRuntime:
        settings: dict[str, Any] = {
            "tart": str(FAKE_TART),
            "state_dir": self.root / "tidepool-state",
            "ssh": SSHSettings(executable=str(self.ssh)),
            "extra_env": self.env,
            "poll_interval": 0.05,
            "boot_timeout": 20.0,
            "command_timeout": 20.0,
        }
        settings.update(overrides)
        return TartRuntime(**settings)
