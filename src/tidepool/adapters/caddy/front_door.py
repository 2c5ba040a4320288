"""``CaddyFrontDoor``: the ``FrontDoor`` port on Caddy, for whoever starts or supervises it.

Whatever starts Caddy (``tidepool serve``, its supervisor after a crash, ``tidepool caddy
bootstrap``) goes through ``start``, which always ends with the config that today's settings
call for. Caddy runs with ``--resume``, which prefers its autosaved config over ``--config``:
without the load at the end, a Caddy started after the settings changed would come back with
the old ones (seen: a forward_auth config outliving a switch back to ``auth = "none"``).

Each Caddy it starts (or finds running) is watched (``deaths.watch``), so that when ``pid``
finds it gone, ``last_death`` can say how it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tidepool.adapters.caddy import config, deaths
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config, wait_until_serving
from tidepool.domain.restarts import Death
from tidepool.errors import NotFoundError, ProxyError
from tidepool.processes import is_running


class CaddyFrontDoor:
    def __init__(
        self,
        process: CaddyProcess,
        admin: CaddyAdmin,
        options: Callable[[], config.CaddyOptions],
        inputs: tuple[Path, ...] = (),
        version: Callable[[], float] | None = None,
    ) -> None:
        self._process = process
        self._admin = admin
        #: Read anew per start: the options (users included) change while Tidepool runs.
        self._options = options
        #: Files the config is made from (the users file): a change means a new config.
        self._inputs = inputs
        #: What the config is made from that is not a file here: the users, where several
        #: serve share them in PostgreSQL (a user added through another serve changes it).
        self._version = version
        #: The Caddy being watched for its death, and how the last one died.
        self._watched: deaths.Watched | None = None
        self._death: Death | None = None

    def pid(self) -> int | None:
        """Caddy's pid while it serves; None once it died, even as this process's unreaped
        child (a zombie passes ``os.kill(pid, 0)``): the watched Caddy is reaped here, which
        lets a start begin and ``last_death`` say how it ended."""
        self._notice_death()
        return self._process.pid()

    def last_death(self) -> Death | None:
        return self._death

    def _notice_death(self) -> None:
        watched = self._watched
        if watched is None:
            return
        code = self._process.exit_code(watched.pid)
        if code is None:
            if is_running(watched.pid):
                return
            # Dead, yet maybe not reapable for a moment: a killed Go program's main thread
            # is a zombie while its other threads are still exiting, and waitpid waits
            # for all of them (seen: SIGKILL, then "Z" in /proc and no status yet).
            code = self._process.exit_code(watched.pid, wait=1.0)
        self._watched = None
        self._death = deaths.explain(code, watched, self._process.log_file)

    def config_inputs(self) -> tuple[float, ...]:
        files = tuple(p.stat().st_mtime if p.exists() else 0.0 for p in self._inputs)
        return files if self._version is None else (*files, self._version())

    async def start(self) -> bool:
        self._notice_death()
        options = self._options()
        self._process.options = options
        log_offset = deaths.log_size(self._process.log_file)
        try:
            started = await asyncio.to_thread(self._process.start)
        except ProxyError as error:
            said = deaths.last_lines(self._process.log_file, log_offset)
            raise ProxyError(f"{error} Its log ends: {said[-1]}" if said else str(error)) from None
        self._watch(log_offset)
        await wait_until_serving(self._admin, alive=lambda: self.pid() is not None)
        await ensure_base_config(self._admin, options)  # carries an older config's routes over
        wanted = config.base_config(options)
        if await self._running_config() != wanted:
            await self._admin.load(wanted)
        return started

    def _watch(self, log_offset: int) -> None:
        """Watch the Caddy that now runs, unless it is the one already watched."""
        pid = self._process.pid()
        if pid is None or (self._watched is not None and self._watched.pid == pid):
            return
        self._watched = deaths.watch(pid, log_offset)
        self._death = None

    async def stop(self) -> bool:
        """Stop Caddy; a stop is not a death, so it is no longer watched."""
        self._watched = None
        return await asyncio.to_thread(self._process.stop)

    async def aclose(self) -> None:
        await self._admin.aclose()

    async def _running_config(self) -> object:
        try:
            return await self._admin.get("/config/")
        except (NotFoundError, ProxyError):
            return None
