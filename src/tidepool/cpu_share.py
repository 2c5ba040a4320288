"""The control plane's share of the CPU beside busy workspaces.

With the kernel's autogroups on (Debian's default: ``/proc/sys/kernel/sched_autogroup_enabled``)
the scheduler first shares the CPU between sessions, and every workspace's container is a
cgroup that weighs as much as one session. ``serve`` and Caddy each run in a session of their
own, so each weighed as much as one workspace: while twenty code-servers booted on two cores,
an answer of the API sat in the run queue behind them (``bench/churn.py``). A process's own
nice value does not help: it counts only against the other processes of its session.

So the sessions Tidepool starts for its control plane (``serve`` by ``tidepool service``, and
Caddy by ``serve``) are given the session nice ``CONTROL_PLANE_NICE``: about three times the
weight of one workspace, never more than the CPU they ask for (they are idle between
requests). Where the kernel has no autogroups, or the process may not raise its priority
(not root), nothing changes and the platform runs as before.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The nice of the control plane's sessions: weight 3121 against a workspace's 1024.
CONTROL_PLANE_NICE = -5

PROC = Path("/proc")


def favour_session(pid: int) -> bool:
    """Give the session of ``pid`` the control plane's nice; True if the kernel took it."""
    try:
        # Never created (no O_CREAT): a kernel without autogroups has no such file to write.
        descriptor = os.open(PROC / str(pid) / "autogroup", os.O_WRONLY)
        try:
            os.write(descriptor, f"{CONTROL_PLANE_NICE}\n".encode())
        finally:
            os.close(descriptor)
    except OSError:  # no autogroups, no such process, or not allowed
        return False
    return True


def favour_own_session() -> bool:
    """The same for this process, but only when it leads its session (started by
    ``tidepool service`` or a service manager): run from a person's shell, the session is
    the shell's, and its priority is theirs to choose."""
    if os.getsid(0) != os.getpid():
        return False
    return favour_session(os.getpid())


def session_nice(pid: int) -> int | None:
    """The nice of ``pid``'s session (``/autogroup-7 nice -5``), None without autogroups."""
    try:
        words = (PROC / str(pid) / "autogroup").read_text().split()
    except OSError:
        return None
    return int(words[-1]) if len(words) == 3 and words[1] == "nice" else None
