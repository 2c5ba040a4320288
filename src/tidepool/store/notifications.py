"""One connection per process that LISTENs to PostgreSQL's change notifications.

Several ``serve`` processes may share one PostgreSQL. A trigger (migration 0006) sends
``NOTIFY tidepool_changes`` with ``schema.table`` in every transaction that writes to
workspaces, events or jobs, delivered when it commits; this listener hears them all, whoever
wrote, and hands each one of this schema to ``on_change`` (the ``Database`` rings its doorbell
and moves its in-memory change marker).

``connected`` is True only while LISTEN is in force on a live connection: while it is, every
commit after it was set is heard. When the connection is lost (the server restarted, the
backend terminated) it turns False at once, and the listener connects again, waiting 0.1 s,
0.2 s, ... up to ``MAX_BACKOFF`` between attempts. Notifications sent while it was down are
lost for good, so each new connection calls ``on_change(None)``: "anything may have changed".
TCP keepalives make a connection that silently went away (a network cut) fail within about
half a minute rather than hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "tidepool_changes"
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0

#: Called with the table written (``"workspaces"``, ``"workspace_events"``, ``"jobs"``), or
#: None when notifications may have been missed (a new connection).
OnChange = Callable[[str | None], None]


class Listener:
    """LISTEN on a dedicated connection, reconnecting with backoff until ``aclose``."""

    def __init__(self, conninfo: str, on_change: OnChange) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        #: How many times LISTEN was put in force (tests see a reconnection by it).
        self.connections = 0
        #: The backend's process id while connected (``pg_terminate_backend`` in tests).
        self.backend_pid: int | None = None

    def start(self) -> None:
        """Begin listening in the background, on the running event loop."""
        if self._task is None:
            self.loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name="tidepool-listener")

    async def wait_connected(self, timeout: float) -> bool:
        """True once LISTEN is in force, False after ``timeout`` seconds without."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), timeout)
        return self.connected

    async def _run(self) -> None:
        delay = FIRST_BACKOFF
        while True:
            connections = self.connections
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                log.warning("change notifications lost, reconnecting: %s", error)
            finally:
                self._down()
            if self.connections > connections:  # it was up: a fresh loss, try again soon
                delay = FIRST_BACKOFF
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _listen(self) -> None:
        # libpq's keepalives: probe after 10 s idle, every 5 s, give up after 3 unanswered.
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        async with connection:
            cursor = await connection.execute("SELECT current_schema()")
            schema = (await cursor.fetchone() or ("public",))[0]
            await connection.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = connection.info.backend_pid
            self.connected = True
            self.connections += 1
            self._up.set()
            self._on_change(None)  # what was written while no one listened
            prefix = f"{schema}."
            async for note in connection.notifies():
                if note.payload.startswith(prefix):
                    self._on_change(note.payload[len(prefix) :])

    def _down(self) -> None:
        self.connected = False
        self.backend_pid = None
        self._up = asyncio.Event()

    async def aclose(self) -> None:
        """Stop listening and close the connection; later calls do nothing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._down()
