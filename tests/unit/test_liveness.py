"""A worker's name proves its death only on this host, and only when it is certain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tidepool.host.liveness import boot_id, provably_dead, start_ticks, worker_identity


def name_of(pid: int, started: str | None, boot: str | None = None) -> str:
    return ":".join([socket.gethostname(), boot or boot_id(), str(pid), started or "", "abcd"])


def test_a_live_worker_is_not_dead() -> None:
    assert not provably_dead(worker_identity())


def test_a_worker_whose_process_exited_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = start_ticks(child.pid)
    child.wait()
    assert started is not None or start_ticks(child.pid) is None
    assert provably_dead(name_of(child.pid, started or "1"))


def test_a_reused_pid_is_not_the_worker_that_held_it() -> None:
    mine = start_ticks(os.getpid())
    assert mine is not None
    assert provably_dead(name_of(os.getpid(), str(int(mine) - 1)))


def test_a_worker_of_an_earlier_boot_is_dead() -> None:
    assert provably_dead(name_of(os.getpid(), start_ticks(os.getpid()), "another-boot"))


def test_what_cannot_be_proven_is_not_dead() -> None:
    assert not provably_dead("otherhost:" + boot_id() + ":1:1:abcd")  # another host
    assert not provably_dead("legacy-worker-1a2b3c4d")  # a name from before
    assert not provably_dead(f"{socket.gethostname()}:{boot_id()}:notapid:1:ab")
