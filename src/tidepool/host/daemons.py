"""Starting incusd and lxcfs: through systemd where PID 1 is systemd, directly elsewhere.

Containers on a host without systemd (CI runners, containers used as build machines) have no
service manager to start Incus, so Tidepool starts the daemons itself, detached, with their
logs in Incus's usual log directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

from tidepool.errors import HostSetupError
from tidepool.host import lxcfs
from tidepool.host.commands import run
from tidepool.host.steps import StepResult
from tidepool.processes import is_running

INCUSD = Path("/usr/libexec/incus/incusd")
LOG_DIR = Path("/var/log/incus")
_DETACHED: list[subprocess.Popen[bytes]] = []
#: The umask incusd and lxcfs run with, as a service manager would start them.
DAEMON_UMASK = 0o022


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
            # A daemon's own umask, never its starter's: serve runs under 077, and an incusd
            # that inherited it made every directory `incus exec` created private to root
            # (code-server, running as the workspace's user, then could not start).
            umask=DAEMON_UMASK,
        )
    # Kept: a daemon is meant to outlive this object, and Python warns when one is dropped
    # while its process runs (``tidepool host init`` exits first; a test calling this does not).
    _DETACHED.append(process)


def _raise_file_limit() -> None:
    """Give incusd as many open files as the hard limit allows (it wants a million)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ensure_lxcfs(timeout: float = 10.0) -> StepResult:
    """lxcfs serving where this host's incusd looks for it (``host.lxcfs``); an lxcfs an
    earlier Tidepool ran elsewhere is stopped first. ``HostSetupError`` when it will not
    serve there: every workspace would see the host's memory and CPUs."""
    target = lxcfs.expected_mount()
    if _process_running("lxcfs") and target in lxcfs.mount_points() and lxcfs.serves(target):
        return StepResult("lxcfs", False, f"running at {target}")
    if systemd_is_init():
        run(["systemctl", "enable", "--now", "lxcfs"])
        detail = "started with systemd"
    else:
        _stop_earlier_lxcfs()
        clear_stale_mount(target)
        target.mkdir(parents=True, exist_ok=True)
        _spawn_detached(["lxcfs", str(target)], LOG_DIR / "lxcfs.log")
        detail = "started"
    deadline = time.monotonic() + timeout
    while not lxcfs.serves(target):
        if time.monotonic() > deadline:
            raise HostSetupError(
                f"lxcfs does not serve at {target}, where incusd looks for it, so workspaces "
                f"would see the host's memory and CPUs; see {LOG_DIR / 'lxcfs.log'}."
            )
        time.sleep(0.05)
    return StepResult("lxcfs", True, f"{detail} at {target}")


def _stop_earlier_lxcfs() -> None:
    """Stop an lxcfs at the path an earlier Tidepool used, and clear its mount."""
    for pid in daemon_pids("lxcfs"):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(lxcfs.EARLIER_MOUNT).encode() in argv:
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while lxcfs.EARLIER_MOUNT in lxcfs.mount_points() and time.monotonic() < deadline:
        time.sleep(0.05)
    if lxcfs.EARLIER_MOUNT in lxcfs.mount_points() or mount_is_stale(lxcfs.EARLIER_MOUNT):
        run(["umount", "--lazy", str(lxcfs.EARLIER_MOUNT)])


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
