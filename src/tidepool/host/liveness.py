"""Who a worker is, in a form that lets another process on this host prove it is dead.

A job's lease names its worker. If that worker was killed, the lease used to hold the job for
its full length (60 s) although, on one host, the next ``serve`` can see at once that the
holder is gone. So a worker is named ``HOST:BOOT:PID:START:NONCE``: the host name, the
kernel's boot id, the process id and the process's start time (clock ticks since boot, which
tell a reused pid from the original). A worker is provably dead when it ran on this host and:

- the host has booted since (another boot id): every process of the old boot is gone; or
- no process has its pid now, or the one that has it started at another time.

Anything else (another host, an unreadable name, a live process) is not provably dead, and
its lease still protects the job: a slow worker is never robbed of its work.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

PROC = Path("/proc")
BOOT_ID = PROC / "sys" / "kernel" / "random" / "boot_id"


def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (field 22 of its ``stat``), or None if there is none."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def worker_identity() -> str:
    """This process's worker name (unique per worker: the nonce tells two apart)."""
    pid = os.getpid()
    return ":".join(
        [socket.gethostname(), boot_id(), str(pid), start_ticks(pid) or "", secrets.token_hex(4)]
    )


def provably_dead(owner: str) -> bool:
    """True only when ``owner`` (a worker name) is certainly not running any more."""
    parts = owner.split(":")
    if len(parts) != 5 or parts[0] != socket.gethostname() or not parts[2].isdigit():
        return False
    host_boot, pid, started = parts[1], int(parts[2]), parts[3]
    current_boot = boot_id()
    if not host_boot or not current_boot:
        return False
    if host_boot != current_boot:
        return True
    return start_ticks(pid) != started
