"""Stopping a background process that is known by its pid (Caddy, ``tidepool serve``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Collection
from pathlib import Path

from tidepool.errors import InvalidInputError

PROC = Path("/proc")


def is_running(pid: int) -> bool:
    """True if ``pid`` is a live process. A zombie (dead, not yet reaped: a killed child of a
    process that died too, under an init that reaps late) is not, although ``kill(pid, 0)``
    still finds it: that used to make a killed Caddy look alive and block the next start."""
    if pid <= 0:
        return False
    if (PROC / "self").exists():
        try:
            stat = (PROC / str(pid) / "stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    try:  # no /proc (macOS): a zombie cannot be told apart here
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def terminate(
    pid: int,
    running: Callable[[], int | None],
    timeout: float,
    how: signal.Signals = signal.SIGTERM,
) -> None:
    """Signal ``pid`` (``how``: SIGTERM) and wait until ``running()`` says it is gone;
    SIGKILL after ``timeout``, for a process that will not stop by itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, how)
    deadline = time.monotonic() + timeout
    while running() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if running() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def at_step(step: str, action: Callable[[], None]) -> Callable[[str], None]:
    """A ``Reconciler.reached`` that runs ``action`` when ``step`` is reached (crash tests)."""

    def reached(current: str) -> None:
        if current == step:
            action()

    return reached


def kill_self() -> None:
    """SIGKILL this process: a crash, with no clean-up and no flush, as a real one."""
    os.kill(os.getpid(), signal.SIGKILL)


def kill_pid_file(pid_file: Path) -> None:
    """SIGKILL the process whose pid ``pid_file`` holds, if it runs."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


def crash_hook(
    crash_at: str, caddy_pid_file: Path, steps: Collection[str]
) -> Callable[[str], None]:
    """What the reconciler tells its step boundaries (``steps``) to: nothing, unless a crash
    test set ``crash_at`` (``STEP``, ``caddy:STEP`` or ``both:STEP``: then this process, its
    Caddy, or both die there)."""
    if not crash_at:
        return lambda _: None
    target, _, step = crash_at.rpartition(":")
    if step not in steps:
        raise InvalidInputError(f"crash_at: {step!r} is none of {sorted(steps)}.")

    def kill_caddy() -> None:
        kill_pid_file(caddy_pid_file)

    def kill_both() -> None:
        kill_caddy()
        kill_self()

    return at_step(step, {"caddy": kill_caddy, "both": kill_both}.get(target, kill_self))
