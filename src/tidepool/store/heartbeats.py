"""Workers' heartbeats in the database (the ``workers`` table, migration 0004).

By the database's clock, never a host's: workers on hosts whose clocks disagree are judged
by one clock. A beat is an upsert of the worker's one row.
"""

from __future__ import annotations

import sqlalchemy as sa

from tidepool.store.database import Database
from tidepool.store.tables import workers

#: A worker silent this long is forgotten: every ``serve`` start is a new worker, and the
#: rows of the ones gone would otherwise pile up.
FORGET_AFTER_SECONDS = 86400.0


async def beat(database: Database, worker: str) -> None:
    """Record ``worker`` alive now, and forget the workers silent for a day."""
    async with database.write(workspaces=False) as connection:
        now = database.now()
        changed = await connection.execute(
            sa.update(workers).where(workers.c.name == worker).values(beat_at=now)
        )
        if changed.rowcount == 0:
            await connection.execute(sa.insert(workers).values(name=worker, beat_at=now))
        long_gone = workers.c.beat_at < database.now(-FORGET_AFTER_SECONDS)
        await connection.execute(sa.delete(workers).where(long_gone))


async def silent(database: Database, after_seconds: float) -> set[str]:
    """The workers whose last beat is more than ``after_seconds`` old."""
    cutoff = database.now(-after_seconds)
    async with database.read() as connection:
        found = await connection.execute(
            sa.select(workers.c.name).where(workers.c.beat_at < cutoff)
        )
        return {str(name) for name in found.scalars()}
