"""Change notifications across processes on PostgreSQL (``tidepool.store.notifications``,
migration 0006): two stores over one database, each with its own engine and listener, stand
for two ``serve`` processes.

A write through one rings the other's doorbell and moves its change marker; an event stream
opened on one sees an event written through the other long before its poll; a killed listener
connects again and notifications flow again. Bounds are generous (2 s) for a busy two-core
machine; every poll is 30 s, so only a notification can pass them.

PostgreSQL comes from ``TIDEPOOL_TEST_POSTGRES_URL``; without it these tests FAIL, never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from test_store_contract import postgres_schema, postgres_url

from tidepool.api.sse import event_stream
from tidepool.domain.workspace import Workspace
from tidepool.store import migrate
from tidepool.store.database import Database
from tidepool.store.notifications import Listener
from tidepool.store.rows import row_of
from tidepool.store.sql import SqlJobQueue, SqlWorkspaceStore
from tidepool.store.tables import workspaces

PROMPT = 2.0
LONG_POLL = 30.0


@dataclass
class Process:
    """What one ``serve`` holds: its database (engine, doorbell, listener) and its store."""

    database: Database
    store: SqlWorkspaceStore

    @property
    def listener(self) -> Listener:
        listener = self.database.listen()
        assert listener is not None
        return listener


@pytest.fixture
async def url() -> AsyncIterator[str]:
    with postgres_schema(postgres_url()) as schema_url:
        await asyncio.to_thread(migrate.upgrade, schema_url)
        yield schema_url


@pytest.fixture
async def processes(url: str) -> AsyncIterator[list[Process]]:
    """Three processes on one database; the first two listen, the third does not."""
    opened = [Database(url) for _ in range(3)]
    try:
        for database in opened[:2]:
            listener = database.listen()
            assert listener is not None and await listener.wait_connected(10.0)
        yield [Process(database, SqlWorkspaceStore(database)) for database in opened]
    finally:
        for database in opened:
            await SqlJobQueue(database).aclose()


def workspace(name: str) -> Workspace:
    return Workspace(name=name, owner="alice", image="img")


async def rung(ticket: asyncio.Event, within: float = PROMPT) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ticket.wait(), within)
    return ticket.is_set()


async def test_a_write_through_one_process_rings_the_others_doorbell(
    processes: list[Process],
) -> None:
    writer, listening, deaf = processes
    heard, unheard = listening.database.doorbell.ticket(), deaf.database.doorbell.ticket()
    started = asyncio.get_running_loop().time()
    await writer.store.add(workspace("one"))
    assert await rung(heard), "no notification reached the other process"
    assert asyncio.get_running_loop().time() - started < PROMPT
    await asyncio.sleep(0.3)
    assert not unheard.is_set(), "without a listener, nothing but its own writes rings"


@pytest.mark.parametrize("table", ["workspace_events", "jobs"])
async def test_events_and_jobs_ring_too_but_only_workspaces_move_the_marker(
    processes: list[Process], table: str
) -> None:
    writer, listening, _ = processes
    added = listening.database.doorbell.ticket()
    made = await writer.store.add(workspace("one"))
    assert await rung(added)  # the add's "workspaces" comes first: the marker has moved
    before = await listening.store.change_marker()
    ticket = listening.database.doorbell.ticket()
    if table == "jobs":
        await writer.store.enqueue(made.id)
    else:
        await writer.store.add_event(made.id, "phase", "booted")
    assert await rung(ticket)
    assert await listening.store.change_marker() == before


async def test_an_event_stream_on_one_process_sees_an_event_written_through_another(
    processes: list[Process],
) -> None:
    writer, reader, _ = processes
    made = await writer.store.add(workspace("one"))
    after = await reader.store.latest_event_seq()
    stream = event_stream(reader.store, made.id, after, poll=LONG_POLL)
    try:
        assert (await anext(stream)).startswith("retry:")
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)  # the stream has read nothing and waits on its doorbell
        assert not waiting.done()
        started = asyncio.get_running_loop().time()
        await writer.store.add_event(made.id, "phase", "booted")
        chunk = await asyncio.wait_for(waiting, PROMPT)
        assert '"value": "booted"' in chunk
        assert asyncio.get_running_loop().time() - started < PROMPT
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_the_marker_moves_across_processes_and_never_lags_what_was_heard(
    processes: list[Process],
) -> None:
    writer, reader, _ = processes
    before = await reader.store.change_marker()
    assert before is not None and before < 0, "kept in memory: no round trip"
    ticket = reader.database.doorbell.ticket()
    await writer.store.add(workspace("one"))
    assert await rung(ticket)
    # Told of the write, the marker is new AND a read from now on sees the write: the
    # notification arrives only after the commit, so a page kept before is never sent again.
    after = await reader.store.change_marker()
    assert after is not None and after != before
    assert (await reader.store.get("one")).name == "one"
    assert (await reader.store.list()).total == 1


async def test_a_process_reads_its_own_writes_before_their_notification_is_back(
    processes: list[Process],
) -> None:
    own = processes[0]
    before = await own.store.change_marker()
    await own.store.add(workspace("one"))
    assert await own.store.change_marker() != before  # no await let the listener run


class Connected:
    """A listener that is up and hears nothing: only this process's own writes move the
    marker, so the test below sees exactly when they do."""

    connected = True

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        return None


async def test_an_own_write_moves_the_marker_only_after_it_commits(
    processes: list[Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that takes the marker while a write is still open, then its snapshot (which
    cannot see that write), keeps the page with that marker; the commit must move it, or the
    page would be sent again without the write (the bug: moving it when the write begins)."""
    own = processes[2]
    monkeypatch.setattr(own.database, "_listener", Connected())
    async with own.database.write() as connection:
        await connection.execute(sa.insert(workspaces).values(row_of(workspace("one"))))
        mid_write = await own.store.change_marker()
        assert (await own.store.list()).total == 0  # the page kept with ``mid_write``
    assert await own.store.change_marker() != mid_write
    assert (await own.store.list()).total == 1


async def test_with_the_listener_down_the_marker_is_read_from_the_row(
    processes: list[Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, _, reader = processes
    down = Connected()
    down.connected = False
    monkeypatch.setattr(reader.database, "_listener", down)
    before = await reader.store.change_marker()
    assert before is not None and before >= 0, "the row's version, never an in-memory one"
    await writer.store.add(workspace("one"))
    assert await reader.store.change_marker() != before


async def test_a_killed_listener_connects_again_and_notifications_flow_again(
    processes: list[Process],
) -> None:
    writer, reader, _ = processes
    listener = reader.listener
    pid, marker = listener.backend_pid, await reader.store.change_marker()
    async with writer.database.write(workspaces=False) as connection:
        await connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(100):
        if listener.connections > 1 and listener.connected:
            break
        await asyncio.sleep(0.05)
    assert listener.connections == 2 and listener.backend_pid != pid
    # Writes made while it was down were never heard: a new connection moves the marker.
    assert await reader.store.change_marker() != marker
    ticket = reader.database.doorbell.ticket()
    await writer.store.add(workspace("after"))
    assert await rung(ticket)
