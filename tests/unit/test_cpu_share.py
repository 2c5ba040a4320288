"""The control plane's sessions weigh more than a workspace's (``tidepool.cpu_share``).

Played for real against this host's kernel (root, autogroups on: Debian's default, and what
CI runs on): a process in a session of its own (as ``serve`` and Caddy are) is given the
control plane's session nice; one that does not lead its session (``serve`` run from a
person's shell) leaves the shell's session as it was. A kernel without autogroups is played
by a ``/proc`` that has no ``autogroup`` files: nothing changes and nothing fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidepool import cpu_share
from tidepool.cpu_share import CONTROL_PLANE_NICE, favour_session, session_nice


@pytest.fixture
def own_session() -> Iterator[int]:
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield process.pid
    process.kill()
    process.wait()


def test_a_session_of_its_own_gets_the_control_planes_nice(own_session: int) -> None:
    ours = session_nice(os.getpid())
    assert session_nice(own_session) == 0
    assert favour_session(own_session)
    assert session_nice(own_session) == CONTROL_PLANE_NICE
    assert session_nice(os.getpid()) == ours, "only that session"


def test_a_process_that_does_not_lead_its_session_changes_nothing() -> None:
    before = session_nice(os.getpid())
    asked = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tidepool.cpu_share import favour_own_session as f; print(f())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert asked.stdout.strip() == "False"
    assert session_nice(os.getpid()) == before


def test_a_session_leader_favours_itself() -> None:
    asked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from tidepool.cpu_share import favour_own_session "
            "as f, session_nice as n; print(f(), n(os.getpid()))",
        ],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    assert asked.stdout.split() == ["True", str(CONTROL_PLANE_NICE)]


def test_a_process_that_is_gone_is_no_error() -> None:
    process = subprocess.Popen(["true"])
    process.wait()
    assert not favour_session(process.pid)
    assert session_nice(process.pid) is None


def test_a_kernel_without_autogroups_changes_nothing_and_fails_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_session: int
) -> None:
    (tmp_path / str(own_session)).mkdir()  # the process is there; its autogroup file is not
    monkeypatch.setattr(cpu_share, "PROC", tmp_path)
    assert not favour_session(own_session)
    assert session_nice(own_session) is None
    monkeypatch.undo()
    assert session_nice(own_session) == 0, "the real session was left alone"
