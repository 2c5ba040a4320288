"""``tidepool serve``: API, worker and Caddy in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from tidepool.cli.output import console, friendly_errors
from tidepool.cpu_share import favour_own_session
from tidepool.host.service import TAKE_OVER_ENV
from tidepool.settings import get_settings


@friendly_errors
def serve_command() -> None:
    """Run the control plane: the API at /api, the worker, and Caddy. Stops on SIGTERM;
    SIGHUP stops it too but leaves Caddy serving, for the next ``serve`` to adopt (a
    restart that keeps every open connection)."""
    from tidepool.server import serve  # the server's dependencies load only when serving

    favour_own_session()  # the API answers before any one workspace (``cpu_share``)
    settings = get_settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def main() -> None:
        stop, restart = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def stop_for_restart() -> None:
            restart.set()
            stop.set()

        loop.add_signal_handler(signal.SIGHUP, stop_for_restart)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        console.print(f"Tidepool serving {settings.workspace_base_url} (API: /api)")
        replaces = os.environ.get(TAKE_OVER_ENV, "")
        await serve(settings, stop, restart, int(replaces) if replaces.isdigit() else None)

    asyncio.run(main())
    console.print("Tidepool stopped.")


def _dump_tasks() -> None:
    """SIGUSR1: print every asyncio task's stack to stderr, to see what a stuck server awaits."""
    import sys

    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
