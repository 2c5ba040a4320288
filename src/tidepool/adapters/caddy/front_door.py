"""``CaddyFrontDoor``: the ``FrontDoor`` port on Caddy, for whoever starts or supervises it.

Whatever starts Caddy (``tidepool serve``, its supervisor after a crash, ``tidepool caddy
bootstrap``) goes through ``start``, which always ends with the config that today's settings
call for. Caddy runs with ``--resume``, which prefers its autosaved config over ``--config``:
without the load at the end, a Caddy started after the settings changed would come back with
the old ones (seen: a forward_auth config outliving a switch back to ``auth = "none"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, ensure_base_config, wait_until_serving
from tidepool.errors import NotFoundError, ProxyError
from tidepool.processes import is_running


class CaddyFrontDoor:
    def __init__(
        self,
        process: CaddyProcess,
        admin: CaddyAdmin,
        options: Callable[[], config.CaddyOptions],
        inputs: tuple[Path, ...] = (),
    ) -> None:
        self._process = process
        self._admin = admin
        #: Read anew per start: the options (users included) change while Tidepool runs.
        self._options = options
        #: Files the config is made from (the users file): a change means a new config.
        self._inputs = inputs

    def pid(self) -> int | None:
        """Caddy's pid while it serves; None once it died, even as this process's unreaped
        child (a zombie passes ``os.kill(pid, 0)``): reaping it here lets a start begin."""
        pid = self._process.pid()
        if pid is None:
            return None
        with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                return None
        return pid if is_running(pid) else None

    def config_inputs(self) -> tuple[float, ...]:
        return tuple(p.stat().st_mtime if p.exists() else 0.0 for p in self._inputs)

    async def start(self) -> bool:
        options = self._options()
        self._process.options = options
        started = await asyncio.to_thread(self._process.start)
        await wait_until_serving(self._admin)
        await ensure_base_config(self._admin, options)  # carries an older config's routes over
        wanted = config.base_config(options)
        if await self._running_config() != wanted:
            await self._admin.load(wanted)
        return started

    async def stop(self) -> bool:
        return await asyncio.to_thread(self._process.stop)

    async def aclose(self) -> None:
        await self._admin.aclose()

    async def _running_config(self) -> object:
        try:
            return await self._admin.get("/config/")
        except (NotFoundError, ProxyError):
            return None
