"""A source database with history for ``tidepool database copy``, and what a copy must keep.

``fill`` makes rows the way the platform does (through the store and the queue): workspaces
with instance names in ``runtime_state``, a template and size, a repository, one deleted, a
claimed and retried job, extra events. ``contents`` reads them back the same way (jobs straight
from their table: the queue has no reader that leaves them alone), so a copy is compared as
the platform will see it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from tidepool.domain.templates import Repository, Size
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.ports import Event
from tidepool.store import migrate
from tidepool.store.sql import open_store
from tidepool.store.tables import jobs
from tidepool.store.urls import sync_url


@dataclass(frozen=True)
class Contents:
    workspaces: list[Workspace]
    events: list[Event]
    jobs: list[dict[str, Any]]


async def fill(url: str) -> Contents:
    """Migrate ``url`` and give it three workspaces with history; returns what it holds."""
    migrate.upgrade(url)
    store, queue = open_store(url)
    try:
        alpha = await store.add(
            Workspace(
                name="alpha",
                owner="ann",
                image="tidepool-workspace",
                runtime_state={"instance": "tp-alpha-1a2b", "ports": [8080, 8081]},
                template="big",
                size=Size(4, 8192, 40),
                repository=Repository("https://example.invalid/r.git", "main"),
            )
        )
        beta = await store.add(
            Workspace(name="beta", owner="bob", image="img", runtime_state={"instance": "b"})
        )
        gone = await store.add(Workspace(name="gone", owner="ann", image="img"))
        running = (
            alpha.move_to(Status.CREATING)
            .move_to(Status.STARTING)
            .move_to(Status.RUNNING, address="10.0.0.5")
        )
        await store.save(running, event=("status", "running", "booted"))
        await store.add_event(beta.id, "log", "cloning", "line with 'quotes' and ünïcode")
        await store.save(
            replace(gone, desired=Desired.DELETED).move_to(Status.DELETING).move_to(Status.DELETED),
            event=("status", "deleted", ""),
        )
        job = await queue.claim("worker-1", 30.0)
        assert job is not None
        await queue.retry(job, 60.0, "incusd said no")
        await queue.claim("worker-2", 30.0)
    finally:
        await queue.aclose()
    return await contents(url)


async def contents(url: str) -> Contents:
    """Every workspace (deleted ones too), every event and every job at ``url``."""
    store, queue = open_store(url)
    try:
        page = await store.list(include_deleted=True, limit=1000)
        events = list(await store.events(None, after=0, limit=100_000))
    finally:
        await queue.aclose()
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(jobs).order_by(jobs.c.id)).mappings().all()
    finally:
        engine.dispose()
    return Contents(list(page.items), events, [dict(row) for row in rows])
