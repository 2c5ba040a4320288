"""The lead among control planes on one PostgreSQL: a session-level advisory lock.

The lock is held by one connection of the leader's own, outside the pool's churn. PostgreSQL
lets it go the moment that session ends: a leader killed by SIGKILL gives it up at once (its
kernel closes the socket), and one whose host is gone within the keepalive set below, so
no lease has to run out. Every other process tries for it at each ``check`` and takes it
at the first try after.

A leader that loses its connection stops leading at its next check, before anyone else can
have taken the lock (a failed or late check drops the lead; it never assumes). On SQLite and in
memory there is one process family on one host, and it always leads (``SoleLeader``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tidepool.store.database import Database

log = logging.getLogger(__name__)

#: The longest one check may take. A connection that hangs (a network cut that no packet
#: reports) must not keep this process leading while the server, by its keepalive, has
#: already let the lock go to another: an answer not back in time drops the lead.
CHECK_TIMEOUT = 3.0

#: The advisory lock's key: fixed, from a name, so every version of Tidepool agrees on it.
#: Advisory locks belong to one database, so two installations on one server never meet.
LEAD_KEY = int.from_bytes(
    hashlib.sha256(b"tidepool resync leader").digest()[:8], "big", signed=True
)
#: How soon the server gives up on a leader whose host went away without closing the socket
#: (idle seconds, then probes every interval, this many): about 11 s.
_KEEPALIVE = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


class SoleLeader:
    """One process family on one host (SQLite, memory): it always leads."""

    @property
    def leading(self) -> bool:
        return True

    async def check(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class AdvisoryLeadership:
    """The lead held as a PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, database: Database, timeout: float = CHECK_TIMEOUT) -> None:
        self._database = database
        self._timeout = timeout
        self._connection: AsyncConnection | None = None
        self._leading = False
        #: Hung checks given up on, ending in the background (``_abandon``).
        self._ending: set[asyncio.Future[None]] = set()

    @property
    def leading(self) -> bool:
        return self._leading

    async def check(self) -> bool:
        # Not ``wait_for``: it waits for the cancelled check to finish, and a driver that
        # cancels a query on a hung connection waits for the network too. A late check is
        # left to end on its own while the lead is dropped now.
        checking = asyncio.ensure_future(self._check())
        done, _ = await asyncio.wait({checking}, timeout=self._timeout)
        if not done:
            log.warning("lost the lead (its connection did not answer in %g s)", self._timeout)
            self._abandon(checking)
            return False
        error = checking.exception()
        if isinstance(error, (sa.exc.SQLAlchemyError, OSError)):
            if self._leading:
                log.warning("lost the lead (its connection failed: %s)", error)
            await self._drop()
        elif error is not None:
            raise error
        return self._leading

    def _abandon(self, checking: asyncio.Future[None]) -> None:
        """Stop leading at once; the hung check and its connection end in the background."""
        connection, self._connection = self._connection, None
        self._leading = False

        async def end() -> None:
            checking.cancel()
            await asyncio.gather(checking, return_exceptions=True)
            if connection is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError, OSError):
                    await connection.invalidate()  # never back to the pool

        ending = asyncio.ensure_future(end())
        self._ending.add(ending)
        ending.add_done_callback(self._ending.discard)

    async def _check(self) -> None:
        if self._connection is None:
            await self._try_to_lead()
        else:
            await self._connection.execute(sa.text("SELECT 1"))
            await self._connection.commit()

    async def _try_to_lead(self) -> None:
        connection = await self._database.engine.connect()
        try:
            for setting in _KEEPALIVE:
                await connection.execute(sa.text(setting))
            taken = await connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEAD_KEY}
            )
            await connection.commit()
        except BaseException:
            with contextlib.suppress(sa.exc.SQLAlchemyError, OSError):
                await connection.invalidate()  # never back to the pool, lock or not
                await connection.close()
            raise
        if not taken:
            await connection.close()
            return
        self._connection, self._leading = connection, True
        log.info("this control plane leads (resync repairs, warm pool, home sweeps)")

    async def _drop(self) -> None:
        self._leading = False
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
                await connection.close()
            except (sa.exc.SQLAlchemyError, OSError):
                log.debug("closing the lost lead's connection failed", exc_info=True)

    async def aclose(self) -> None:
        """Give the lead up: the connection is closed for good, never handed back to the
        pool (a pooled session would go on holding the lock for whoever borrows it)."""
        await self._drop()


def leadership_for(database: Database | None) -> AdvisoryLeadership | SoleLeader:
    """The advisory lock on PostgreSQL; the sole leader on SQLite or without a database."""
    if database is not None and database.backend == "postgresql":
        return AdvisoryLeadership(database)
    return SoleLeader()
