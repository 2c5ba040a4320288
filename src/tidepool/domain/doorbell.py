"""A doorbell: wakes, in this process, whoever waits for the store to change.

The worker looks for jobs, and every event stream for new events, again every fraction of a
second. A write in the same process (the API's POST, the worker's status change) rings this,
so they look at once instead: a create's job is picked up, and its ``running`` reaches the web
app, without waiting out the poll. On PostgreSQL a write by any other process (a second
control plane, an operator's SQL) rings it too, through the store's change notifications
(``tidepool.store.notifications``); on SQLite, or while those are cut off, it is seen at the
next poll.
"""

from __future__ import annotations

import asyncio
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Take one before looking at the store: a ring after that is never missed."""
        return self._rung

    def ring(self) -> None:
        self._rung.set()
        self._rung = asyncio.Event()

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> None:
        """Until a ring after ``ticket`` was taken, or ``timeout`` seconds."""
        try:
            await asyncio.wait_for(ticket.wait(), timeout)
        except TimeoutError:
            return
        except RuntimeError:  # a ticket of another event loop (a test's): just the poll
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(timeout)
