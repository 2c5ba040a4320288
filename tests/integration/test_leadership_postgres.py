"""The control planes' lead on PostgreSQL: one leader, and failover when it dies.

Advisory locks need no table, so this leaves the shared test database's rows alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from tidepool.store.database import Database
from tidepool.store.leadership import LEAD_KEY, AdvisoryLeadership, SoleLeader, leadership_for


def postgres_url() -> str:
    url = os.environ.get("TIDEPOOL_TEST_POSTGRES_URL")
    assert url, "TIDEPOOL_TEST_POSTGRES_URL is unset: run ./scripts/postgres (scripts/test does)"
    return url


def sa_url(url: str) -> URL:
    return make_url(url)


def holders(url: str) -> list[int]:
    """The backends holding the lead's advisory lock."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            ((LEAD_KEY >> 32) & 0xFFFFFFFF, LEAD_KEY & 0xFFFFFFFF),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


@pytest.fixture
async def databases() -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(postgres_url()), Database(postgres_url())
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_one_control_plane_leads_and_another_takes_over_when_its_session_ends(
    databases: tuple[Database, Database],
) -> None:
    first, second = (AdvisoryLeadership(d) for d in databases)
    try:
        assert await first.check() is True
        assert await second.check() is False, "two leaders at once"
        assert await first.check() is True, "a leader keeps the lead while its session lives"
        [pid] = holders(postgres_url())
        with psycopg.connect(postgres_url().replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await first.check() is False, "a leader whose session ended must know it"
        assert await second.check() is True
        assert len(holders(postgres_url())) == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_leader_that_gives_up_hands_no_lock_to_its_pool(
    databases: tuple[Database, Database],
) -> None:
    first, second = (AdvisoryLeadership(d) for d in databases)
    try:
        assert await first.check() is True
        await first.aclose()
        # The first database's pool is still open: had the lead's connection gone back to
        # it, that session would still hold the lock.
        async with databases[0].read() as connection:
            await connection.exec_driver_sql("SELECT 1")
        assert await second.check() is True
    finally:
        await second.aclose()


async def test_a_killed_leaders_lock_is_free_at_once(
    databases: tuple[Database, Database],
) -> None:
    """SIGKILL: no goodbye; the server sees the socket close and lets the lock go."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLD,
        postgres_url().replace("+psycopg", ""),
        str(LEAD_KEY),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"leading"
        waiting = AdvisoryLeadership(databases[1])
        assert await waiting.check() is False
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        killed_at = time.monotonic()
        while not await waiting.check():
            assert time.monotonic() - killed_at < 5, "the dead leader's lock was not let go"
            await asyncio.sleep(0.05)
        await waiting.aclose()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_a_leader_whose_connection_hangs_stops_leading_within_its_timeout() -> None:
    """A network cut that no packet reports: the leader's check gets no answer, and it must
    drop the lead well before the server's keepalive lets another process take it."""
    target = sa_url(postgres_url())
    answering = asyncio.Event()
    answering.set()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await source.read(65536):
                await answering.wait()  # a cut network: bytes go nowhere, nothing says so
                sink.write(chunk)
                await sink.drain()
        sink.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    database = Database(target.set(host="127.0.0.1", port=port).render_as_string(False))
    leader = AdvisoryLeadership(database, timeout=1.0)
    try:
        assert await leader.check() is True
        answering.clear()
        started = time.monotonic()
        assert await leader.check() is False
        assert time.monotonic() - started < 3, "the check waited past its timeout"
        assert leader.leading is False
    finally:
        answering.set()
        await leader.aclose()
        await database.aclose()
        server.close()


_HOLD = """
import sys, time, psycopg
connection = psycopg.connect(sys.argv[1], autocommit=True)
assert connection.execute("SELECT pg_try_advisory_lock(%s)", (int(sys.argv[2]),)).fetchone()[0]
print("leading", flush=True)
time.sleep(600)
"""


async def test_sqlite_and_memory_have_one_leader_always(tmp_path: Path) -> None:
    assert isinstance(leadership_for(None), SoleLeader)
    for url, kind in (
        (f"sqlite:///{tmp_path}/t.db", SoleLeader),
        (postgres_url(), AdvisoryLeadership),
    ):
        database = Database(url)
        try:
            assert isinstance(leadership_for(database), kind)
        finally:
            await database.aclose()
