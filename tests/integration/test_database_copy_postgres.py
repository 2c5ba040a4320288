"""``tidepool database copy`` from SQLite into the test PostgreSQL, and back.

The move operators make: every workspace, event and job read back identical through the store
on PostgreSQL, the next event numbered after the copied ones (the sequence behind
``workspace_events.seq`` is moved past them), a second copy into the now full database
refused, and a copy back out of PostgreSQL identical too. Needs only the test PostgreSQL
(``TIDEPOOL_TEST_POSTGRES_URL``), no Incus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.database_copy import contents, fill
from support.databases import database_url
from tidepool.errors import ConflictError
from tidepool.store.copy import copy_database, masked
from tidepool.store.sql import open_store


async def test_sqlite_to_postgresql_keeps_every_row_and_numbers_new_events_after(
    tmp_path: Path,
) -> None:
    source = f"sqlite:///{tmp_path / 'tidepool.db'}"
    postgres = database_url("postgresql", tmp_path)  # emptied
    before = await fill(source)

    report = copy_database(source, postgres, batch_rows=2)

    assert report.rows == {"workspaces": 3, "jobs": 3, "workspace_events": 6}
    assert report.target == masked(postgres) and "***" in report.target
    assert await contents(postgres) == before
    store, queue = open_store(postgres)
    try:
        await store.add_event(before.workspaces[1].id, "log", "first on PostgreSQL")
        assert await store.latest_event_seq() == max(e.seq for e in before.events) + 1
    finally:
        await queue.aclose()

    after = await contents(postgres)
    with pytest.raises(ConflictError, match="not empty"):
        copy_database(source, postgres)
    assert await contents(postgres) == after

    back = f"sqlite:///{tmp_path / 'back.db'}"
    copy_database(postgres, back)
    assert await contents(back) == after
