"""Starting incusd and lxcfs: through systemd where PID 1 is systemd, directly elsewhere.

Containers on a host without systemd (CI runners, containers used as build machines) have no
service manager to start Incus, so Tidepool starts the daemons itself, detached, with their
logs in Incus's usual log directory.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import time
from pathlib import Path

from tidepool.errors import HostSetupError
from tidepool.host.commands import run
from tidepool.host.steps import StepResult
from tidepool.processes import is_running

INCUSD = Path("/usr/libexec/incus/incusd")
LXCFS_MOUNT = Path("/var/lib/incus-lxcfs")
LOG_DIR = Path("/var/log/incus")
_DETACHED: list[subprocess.Popen[bytes]] = []


def systemd_is_init() -> bool:
    """True when PID 1 is systemd (so services are started with systemctl)."""
    return Path("/run/systemd/system").is_dir()


def daemon_pids(executable_name: str) -> list[int]:
    """The live processes running ``executable_name`` as their program. Read from the
    command line, not the process name: incusd's per-container monitors are forks of incusd
    (named ``incusd`` too, their command line ``[lxc monitor] ...``), and outlive it. Nor do
    its tools (``incusd forknet``) or zombies (killed, not yet reaped)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        # ``incusd forkstart ...``, ``incusd waitready``: the same program run as a tool.
        tool = len(argv) > 1 and argv[1].isalpha()
        if Path(argv[0]).name == executable_name and not tool and is_running(int(proc.name)):
            found.append(int(proc.name))
    return found


def _process_running(executable_name: str) -> bool:
    return bool(daemon_pids(executable_name))


def _spawn_detached(argv: list[str], log_file: Path) -> None:
    """Start ``argv`` in its own session so it outlives this command."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PATH": f"/usr/libexec/incus:{os.environ.get('PATH', '')}"},
            preexec_fn=_raise_file_limit,
        )
    # Kept: a daemon is meant to outlive this object, and Python warns when one is dropped
    # while its process runs (``tidepool host init`` exits first; a test calling this does not).
    _DETACHED.append(process)


def _raise_file_limit() -> None:
    """Give incusd as many open files as the hard limit allows (it wants a million)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ensure_lxcfs() -> StepResult:
    """lxcfs gives containers their own view of /proc (memory, CPUs) under their limits."""
    if _process_running("lxcfs"):
        return StepResult("lxcfs", False, "running")
    if systemd_is_init():
        run(["systemctl", "enable", "--now", "lxcfs"])
        return StepResult("lxcfs", True, "started with systemd")
    clear_stale_mount(LXCFS_MOUNT)
    LXCFS_MOUNT.mkdir(parents=True, exist_ok=True)
    _spawn_detached(["lxcfs", str(LXCFS_MOUNT)], LOG_DIR / "lxcfs.log")
    return StepResult("lxcfs", True, "started")


def mount_is_stale(path: Path) -> bool:
    """True when ``path`` is a FUSE mount whose daemon is gone.

    A killed lxcfs leaves its mount behind, and every look at it fails with "transport
    endpoint is not connected" until it is unmounted; a new lxcfs cannot mount over it.
    """
    try:
        path.stat()
    except OSError as error:
        return error.errno == errno.ENOTCONN
    return False


def clear_stale_mount(path: Path) -> bool:
    """Lazily unmount ``path`` if its daemon died; returns whether there was one to clear."""
    if not mount_is_stale(path):
        return False
    run(["umount", "--lazy", str(path)])
    return True


def ensure_incusd(socket: Path, timeout: float = 120.0) -> StepResult:
    """Start incusd unless it answers on ``socket``, then wait until it is ready."""
    if _process_running("incusd") and socket.exists():
        run([str(INCUSD), "waitready", f"--timeout={int(timeout)}"])
        return StepResult("incusd", False, "running")
    if systemd_is_init():
        run(["systemctl", "enable", "--now", "incus.socket", "incus.service"])
    else:
        _spawn_detached(
            [str(INCUSD), "--group=incus-admin", f"--logfile={LOG_DIR / 'incus.log'}"],
            LOG_DIR / "incusd.stdout.log",
        )
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if time.monotonic() > deadline:
            raise HostSetupError(f"incusd did not create {socket}; see {LOG_DIR / 'incus.log'}.")
        time.sleep(0.1)
    run([str(INCUSD), "waitready", f"--timeout={int(timeout)}"])
    return StepResult("incusd", True, "started")
