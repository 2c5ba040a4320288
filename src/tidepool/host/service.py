"""``tidepool serve`` as a background service where there is no service manager.

Hosts without systemd (containers used as build machines, CI runners, this kind of machine)
still need the platform to run after the shell that started it is gone. ``start`` launches
``tidepool serve`` in a session of its own, with its pid in ``DATA_DIR/serve.pid`` and its
output in ``DATA_DIR/logs/serve.log``, and returns once the API answers; ``stop`` sends
SIGTERM, which stops Caddy with it; ``status`` tells the truth from the pid file, the process
table and the log, including why it died, and, while it runs, how its Caddy is doing (what
its supervisor published: ``front_door_state``). Hosts with systemd keep the unit in
``docs/deploy.md``; both run the same ``tidepool serve``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tidepool.domain.front_door import FrontDoorState
from tidepool.errors import ConflictError, TimeoutExpiredError
from tidepool.host.front_door_state import FrontDoorStateFile
from tidepool.processes import is_running, terminate

#: What marks an error line in ``serve``'s log: Python's logging, or the CLI's own message.
_ERROR_MARKS = (" ERROR ", " CRITICAL ", "error:")
#: The last line of a traceback: ``package.SomeError: message``.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt): ")


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    running: bool
    pid: int | None
    #: The last error the log shows ("" if none): why a dead service died.
    last_error: str
    #: While it runs: its Caddy's state as its supervisor last published it (None if none).
    front_door: FrontDoorState | None = None


class BackgroundService:
    """One ``tidepool serve`` per data directory."""

    def __init__(
        self,
        data_dir: Path,
        ready: Callable[[], bool],
        argv: tuple[str, ...] = (sys.executable, "-m", "tidepool.cli", "serve"),
    ) -> None:
        self.pid_file = data_dir / "serve.pid"
        self.log_file = data_dir / "logs" / "serve.log"
        self.front_door_file = FrontDoorStateFile.in_data_dir(data_dir)
        #: True once the started service answers (its API's health check).
        self._ready = ready
        self._argv = argv

    def pid(self) -> int | None:
        """The service's pid if it runs: the pid file names a live ``tidepool serve``."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None  # dead, not yet reaped
        if [part.decode(errors="replace") for part in cmdline[-2:]] != list(self._argv[-2:]):
            return None  # the pid was reused by something else
        return pid

    def start(self, timeout: float = 120.0) -> bool:
        """Start the service unless it runs; wait until it answers. True if it was started.

        ``TimeoutExpiredError`` (with the log's last error) if it died or did not answer.
        """
        if self.pid() is not None:
            return False
        self._wait_ready(self._spawn("tidepool service start"), timeout)
        return True

    def restart(self, timeout: float = 120.0) -> bool:
        """Replace the running service without dropping anyone; True if one was running.

        The new ``serve`` starts beside the old one (``TAKE_OVER_ENV`` names it) and, once
        loaded, asks it to go with SIGHUP, which leaves Caddy serving; it takes the lock as
        the old one lets go and adopts that Caddy. Caddy holds the requests of that instant
        until the new one listens, so open terminals and IDEs stay connected.
        """
        old = self.pid()
        if old is None:
            return self.start(timeout) and False
        process = self._spawn("tidepool service restart", {TAKE_OVER_ENV: str(old)})
        deadline = time.monotonic() + timeout
        while is_running(old) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._wait_ready(process, max(0.0, deadline - time.monotonic()))
        return True

    def _spawn(self, why: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``serve`` in a session of its own, logging to ``log_file``, its pid in
        ``pid_file``."""
        self.log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            log.write(f"--- {why} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            log.flush()
            process = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready():
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.terminate()
                raise TimeoutExpiredError(
                    "tidepool serve did not come up"
                    + (f": {self.last_error()}" if self.last_error() else "")
                    + f" (log: {self.log_file})"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM and wait for the clean shutdown (jobs in flight finish, Caddy stops);
        SIGKILL after ``timeout``. True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        terminate(pid, self.pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServiceStatus:
        pid = self.pid()
        if pid is None:
            return ServiceStatus(False, None, self.last_error())
        return ServiceStatus(True, pid, "", self.front_door_file.read(pid))

    def last_error(self) -> str:
        """The newest error line of the latest run's log ("" if it shows none): a logged
        error, a CLI error, or the last line of a traceback."""
        for line in reversed(self.log_tail(400)):
            if line.startswith("--- tidepool service start"):
                return ""
            stripped = line.strip()
            if any(mark in line for mark in _ERROR_MARKS) or _EXCEPTION_LINE.match(stripped):
                return stripped
        return ""

    def log_tail(self, lines: int) -> list[str]:
        """The log's last ``lines`` lines."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - 200 * lines))
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]


#: Set by ``BackgroundService.restart`` for the new ``serve``: the pid of the one it replaces.
TAKE_OVER_ENV = "TIDEPOOL_TAKE_OVER"
#: How long ``serve`` waits for by-hand commands that are working on instances to finish.
SERVE_LOCK_WAIT_SECONDS = 300.0


@contextlib.contextmanager
def serve_lock(
    data_dir: Path, wait: float = SERVE_LOCK_WAIT_SECONDS, take_over: int | None = None
) -> Iterator[Callable[[], None]]:
    """Hold ``DATA_DIR/serve.lock`` exclusively while serving.

    A second ``serve`` on the same data directory would take over the API socket and Caddy of
    the first, so it is refused. A by-hand command that is doing a workspace's steps itself
    holds the lock shared (``by_hand_lock``); ``serve`` waits for it to finish, so the two
    never work on one instance at the same moment.

    ``take_over`` (a restart) is the pid of the ``serve`` to replace: it is asked to go
    (SIGHUP: it leaves Caddy serving) and the lock is taken as it lets go. What is yielded
    lets go of the lock early (the replaced ``serve`` does, before it has finished).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "serve.lock").open("a+") as lock:
        deadline = time.monotonic() + wait
        asked = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip()
                if take_over is not None and holder == str(take_over) and _is_serve(holder):
                    if not asked:
                        os.kill(take_over, signal.SIGHUP)
                        asked = True
                    time.sleep(0.02)
                    continue
                if _is_serve(holder) or time.monotonic() > deadline:
                    raise ConflictError(
                        f"Another tidepool serve (pid {holder or '?'}) runs on {data_dir}; "
                        "`tidepool service status` shows it."
                    ) from None
                time.sleep(0.2)  # a by-hand command is working: it ends soon
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                lock.truncate(0)
                lock.flush()
                fcntl.flock(lock, fcntl.LOCK_UN)
                held = False

        try:
            yield release
        finally:
            release()


@contextlib.contextmanager
def by_hand_lock(data_dir: Path) -> Iterator[bool]:
    """For a by-hand command: True if ``serve`` runs on this data directory (its worker
    then does the steps), else False, with the lock held shared until the command ends, so
    that a ``serve`` starting meanwhile waits instead of working on the same instance."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "serve.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield True
            return
        yield False


def _is_serve(pid: str) -> bool:
    """True if ``pid`` (what a serve wrote in the lock file) still lives: a killed serve
    leaves its pid behind, and a by-hand command writes none."""
    return pid.strip().isdigit() and is_running(int(pid))


def keep_private(data_dir: Path) -> None:
    """``data_dir`` 0700 and everything in it root's alone (files 0600, folders 0700): it
    holds the database, password hashes, sessions, tokens, Caddy's config and the API's
    socket. Older versions left some of it readable by every local account."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for folder, folders, files in os.walk(data_dir):
        for name in folders:
            _narrow(Path(folder) / name, 0o700)
        for name in files:
            _narrow(Path(folder) / name, 0o600)


def _narrow(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(mode)
