"""``serve`` keeps incusd and lxcfs alive where no service manager does.

On a host whose PID 1 is not systemd (the README's quick start, CI runners), nothing restarts
a daemon that dies: an incusd SIGKILLed under a running platform left every create waiting
for ever, and ``tidepool service status`` said all was well. So ``serve`` looks at both every
half second and starts a dead one again (``host.daemons``), with the crash-loop backoff the front
door uses (``domain.restarts``): the first deaths at once, a daemon that keeps dying less and
less often. What it sees is published in ``DATA_DIR/host-daemons.json`` for ``service
status``. Where systemd is PID 1, its units restart them and this keeper does not run.

A restarted lxcfs serves new workspaces; one that runs already keeps the files of the dead
lxcfs, which fail, until it restarts (lxcfs's own limit: Incus's per-instance lxcfs avoids it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tidepool.domain.restarts import Death, RestartPolicy, Restarts
from tidepool.errors import TidepoolError
from tidepool.host import daemons, lxcfs
from tidepool.host.steps import StepResult
from tidepool.processes import is_running

log = logging.getLogger(__name__)

FILE_NAME = "host-daemons.json"
CHECK_SECONDS = 0.5


@dataclass
class Kept:
    """One daemon: how to tell it lives, how to start it, and its record of deaths."""

    name: str
    alive: Callable[[], bool]
    start: Callable[[], StepResult]
    record: Restarts = field(default_factory=Restarts)


class Seen:
    """A daemon's process, found once by a walk of ``/proc`` and then watched by its pid
    alone: a walk every half second cost ``serve`` a few percent of a core. ``ready`` is
    asked again only when the pid changed (a new process must prove it serves). The death
    of the process it watched is reported once, even when another has already taken its place."""

    def __init__(self, executable: str, ready: Callable[[], bool]) -> None:
        self._executable = executable
        self._ready = ready
        self._pid: int | None = None

    def __call__(self) -> bool:
        if self._pid is not None:
            if is_running(self._pid):
                return True
            # The process it watched died: that is a death, whoever starts the next one (a
            # second ``serve`` on the host may have done so already).
            self._pid = None
            return False
        pids = daemons.daemon_pids(self._executable)
        self._pid = pids[0] if pids and self._ready() else None
        return self._pid is not None


def host_daemons(incus_socket: Path) -> list[Kept]:
    """lxcfs first (incusd hands its files to the containers it starts), then incusd."""
    return [
        Kept(
            "lxcfs",
            Seen("lxcfs", lambda: lxcfs.serves(lxcfs.expected_mount())),
            daemons.ensure_lxcfs,
        ),
        Kept(
            "incusd",
            Seen("incusd", incus_socket.exists),
            lambda: daemons.ensure_incusd(incus_socket, timeout=60),
        ),
    ]


class DaemonKeeper:
    def __init__(
        self,
        kept: list[Kept],
        state_file: Path,
        *,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kept = kept
        self._state_file = state_file
        self._policy = policy or RestartPolicy()
        self._clock = clock
        self._published: object = None

    async def look(self) -> None:
        """Only see which daemons run now, starting none: quick, so ``serve`` can take this
        first look before its API answers without waiting on a daemon that will not start."""
        for daemon in self._kept:
            if await asyncio.to_thread(daemon.alive):
                daemon.record = daemon.record.started(self._clock())

    async def check(self) -> None:
        """One look at each daemon: a dead one is started again unless its backoff says
        wait; then the state is published if it changed."""
        for daemon in self._kept:
            await self._check(daemon)
        now = [(d.record.deaths, d.record.up_since, d.record.next_start_at) for d in self._kept]
        if now != self._published:
            await asyncio.to_thread(self._publish)
            self._published = now

    async def _check(self, daemon: Kept) -> None:
        now = self._clock()
        if await asyncio.to_thread(daemon.alive):
            if daemon.record.up_since is None:
                daemon.record = daemon.record.started(now)
            daemon.record = daemon.record.settled(now, self._policy)
            return
        if daemon.record.up_since is not None or daemon.record.last_at is None:
            daemon.record = daemon.record.died(Death(), now, self._policy)
            log.warning("host: %s is gone; starting it again", daemon.name)
        due = daemon.record.next_start_at
        if due is not None and now < due:
            return
        try:
            result = await asyncio.to_thread(daemon.start)
        except TidepoolError as error:
            daemon.record = daemon.record.died(
                Death(failed_start=str(error)), self._clock(), self._policy
            )
            log.error("host: %s did not start: %s", daemon.name, error)
            return
        daemon.record = daemon.record.started(self._clock())
        log.warning("host: %s: %s", daemon.name, result.detail)

    def _publish(self) -> None:
        now = self._clock()
        body = {
            "serve_pid": os.getpid(),
            "daemons": [
                {
                    "name": d.name,
                    "up": d.record.up_since is not None,
                    "deaths": d.record.deaths,
                    "last_cause": d.record.last.cause if d.record.last else "",
                    # Wall-clock time: another process reads it, later.
                    "next_start_at": (
                        time.time() + max(0.0, d.record.next_start_at - now)
                        if d.record.next_start_at is not None
                        else None
                    ),
                }
                for d in self._kept
            ],
        }
        partial = self._state_file.with_name(f".{self._state_file.name}.partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out)
        partial.replace(self._state_file)


def describe(state_file: Path, serve_pid: int) -> list[str]:
    """``service status``'s lines for the daemons the running ``serve`` keeps: one line per
    daemon that is down or died since ``serve`` started; nothing when all is well."""
    try:
        body = json.loads(state_file.read_text())
        if body.get("serve_pid") != serve_pid:
            return []
        kept = list(body["daemons"])
    except (OSError, ValueError, TypeError, KeyError):
        return []
    lines = []
    for daemon in kept:
        name, deaths = daemon["name"], int(daemon["deaths"])
        if not daemon["up"]:
            at = daemon.get("next_start_at")
            wait = max(0.0, at - time.time()) if at is not None else 0.0
            when = f"next start in {wait:.0f} s" if wait >= 0.5 else "starting it again"
            cause = f" (last: {daemon['last_cause']})" if daemon.get("last_cause") else ""
            lines.append(f"{name} is DOWN; {when}{cause}. Workspaces wait for it.")
        elif deaths:
            lines.append(f"{name} is up again after it died {deaths} time(s).")
    return lines
