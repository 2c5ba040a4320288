"""One suite for the ``WorkspaceStore`` and the database ``JobQueue``, over every backend.

The services, API and worker are unit-tested against the in-memory store; this suite is what
makes that honest: the same tests run over ``memory``, ``sqlite`` (a temporary file) and
``postgresql`` (a real server), each schema built by the migrations, never ``create_all``.

PostgreSQL comes from ``TIDEPOOL_TEST_POSTGRES_URL``. Without it the PostgreSQL cases FAIL
(they never skip: a green run must mean PostgreSQL was tested). Each test gets a schema of its
own, so runs do not see each other's rows.

Leases and delays here are fractions of a second, with a margin of a few tenths on either side:
short enough to keep the suite quick, long enough for a busy two-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tidepool.domain.templates import Size
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.errors import ConflictError, NotFoundError, RuntimeUnavailableError
from tidepool.ports import Job, JobQueue, WorkspaceStore
from tidepool.store import migrate
from tidepool.store.memory import memory_store
from tidepool.store.sql import open_store
from tidepool.store.tables import metadata
from tidepool.store.urls import sync_url

POSTGRES_ENV = "TIDEPOOL_TEST_POSTGRES_URL"
BACKENDS = ["memory", "sqlite", "postgresql"]
WORKER = "contract-worker"
LONG_LEASE = 30.0
SHORT_LEASE = 0.3
PAST_SHORT_LEASE = 0.6
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Backend:
    """A store and its queue over one database, and a way to open more workers on it."""

    name: str
    store: WorkspaceStore
    queue: JobQueue
    url: str | None = None
    _opened: list[tuple[WorkspaceStore, JobQueue]] = field(default_factory=list)

    def another_queue(self) -> JobQueue:
        """A queue as another worker process would have: its own engine, same database."""
        if self.url is None:
            return self.queue
        store, queue = open_store(self.url)
        self._opened.append((store, queue))
        return queue

    def another_store(self) -> WorkspaceStore:
        """A store as another API process would have: its own engine, same database."""
        if self.url is None:
            return self.store
        store, queue = open_store(self.url)
        self._opened.append((store, queue))
        return store

    async def close(self) -> None:
        for store, queue in [(self.store, self.queue), *self._opened]:
            await queue.aclose()
            closer = getattr(store, "aclose", None)
            if closer is not None:
                await closer()


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set, so the PostgreSQL store was not tested. Run "
            f"`export {POSTGRES_ENV}=$(./scripts/postgres | tail -n1)` first."
        )
    return url


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh, empty schema for one test; yields a URL whose search_path points at it."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(sync_url(base_url), poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        store, queue = memory_store()
        yield Backend("memory", store, queue)
        return
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'tidepool.db'}"
        else:
            url = stack.enter_context(postgres_schema(postgres_url()))
        await asyncio.to_thread(migrate.upgrade, url)
        store, queue = open_store(url)
        under_test = Backend(request.param, store, queue, url)
        # As ``serve`` does: on PostgreSQL, hear every process's writes (the change marker).
        listener = store.listen()
        assert listener is None or await listener.wait_connected(10.0)
        try:
            yield under_test
        finally:
            await under_test.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each SQL kind, migrated to the newest schema."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'tidepool.db'}"
        else:
            url = stack.enter_context(postgres_schema(postgres_url()))
        migrate.upgrade(url)
        yield url


def workspace(name: str = "alpha", *, owner: str = "ann", minutes: int = 0) -> Workspace:
    at = T0 + timedelta(minutes=minutes)
    return Workspace(
        name=name,
        owner=owner,
        image="tidepool-workspace",
        runtime_state={"instance": f"ws-{name}", "nested": {"ports": [8080, 8081]}},
        created_at=at,
        updated_at=at,
    )


async def claim(queue: JobQueue, lease: float = LONG_LEASE) -> Job | None:
    return await queue.claim(WORKER, lease)


async def claim_one(queue: JobQueue, lease: float = LONG_LEASE) -> Job:
    job = await claim(queue, lease)
    assert job is not None, "no job to claim"
    return job


async def delete(store: WorkspaceStore, name: str) -> Workspace:
    """Take the live workspace called ``name`` to ``deleted`` along the state machine."""
    current = await store.get(name)
    deleting = await store.save(current.move_to(Status.DELETING))
    return await store.save(deleting.move_to(Status.DELETED))


def test_the_migrated_schema_is_the_one_tables_describes(migrated_url: str) -> None:
    engine = sa.create_engine(sync_url(migrated_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            # PostgreSQL's own tables are outside ``metadata`` on purpose: the change marker
            # (migration 0003) and the sign-in records and codes (0005), which SQLite keeps
            # in files.
            outside = {"workspace_marker", "sign_in_records", "handshake_codes"}
            opts = {
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name not in outside,
            }
            context = MigrationContext.configure(connection, opts=opts)
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "tables.py and the migrations disagree"
    assert migrate.current(migrated_url) == "0006"


# --- workspaces ----------------------------------------------------------------------------


async def test_add_then_get_by_name_and_by_id_returns_what_was_added(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    by_name = await backend.store.get("alpha")
    by_id = await backend.store.get_by_id(added.id)
    assert by_name == added
    assert by_id == added
    assert by_name.created_at.tzinfo is not None
    assert by_name.created_at == T0
    assert by_name.runtime_state == {"instance": "ws-alpha", "nested": {"ports": [8080, 8081]}}
    assert (by_name.status, by_name.desired, by_name.version) == (
        Status.PENDING,
        Desired.RUNNING,
        1,
    )


async def test_the_template_and_size_are_kept_whole_and_default_when_unset(
    backend: Backend,
) -> None:
    sized = replace(workspace(), template="small", size=Size(cpus=1, memory_mib=1024, disk_gib=5))
    added = await backend.store.add(sized)
    assert (await backend.store.get_by_id(added.id)) == added
    plain = await backend.store.add(workspace("beta", minutes=1))
    kept = await backend.store.get_by_id(plain.id)
    assert (kept.template, kept.size) == ("default", Size())


async def test_an_unknown_workspace_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.store.get("nobody")
    with pytest.raises(NotFoundError):
        await backend.store.get_by_id("no-such-id")


async def test_what_a_caller_holds_is_a_copy(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    added.runtime_state["instance"] = "changed behind the store's back"
    fetched = await backend.store.get("alpha")
    fetched.runtime_state["nested"]["ports"].append(9999)
    assert (await backend.store.get("alpha")).runtime_state == {
        "instance": "ws-alpha",
        "nested": {"ports": [8080, 8081]},
    }


async def test_list_pages_in_creation_order_with_the_total(backend: Backend) -> None:
    # Added out of order: the list follows created_at, not insertion.
    for minutes in (3, 0, 4, 1, 2):
        await backend.store.add(workspace(f"ws{minutes}", minutes=minutes))
    first = await backend.store.list(limit=2)
    assert [w.name for w in first.items] == ["ws0", "ws1"]
    assert first.total == 5
    middle = await backend.store.list(limit=2, offset=2)
    assert [w.name for w in middle.items] == ["ws2", "ws3"]
    last = await backend.store.list(limit=2, offset=4)
    assert [w.name for w in last.items] == ["ws4"]
    beyond = await backend.store.list(limit=2, offset=10)
    assert (list(beyond.items), beyond.total) == ([], 5)


async def test_list_filters_by_status_and_owner(backend: Backend) -> None:
    await backend.store.add(workspace("a", owner="ann", minutes=0))
    b = await backend.store.add(workspace("b", owner="bob", minutes=1))
    await backend.store.add(workspace("c", owner="bob", minutes=2))
    await backend.store.save(b.move_to(Status.CREATING))

    creating = await backend.store.list(status=Status.CREATING)
    assert [w.name for w in creating.items] == ["b"]
    assert creating.total == 1
    bobs = await backend.store.list(owner="bob")
    assert [w.name for w in bobs.items] == ["b", "c"]
    assert bobs.total == 2
    pending_bobs = await backend.store.list(owner="bob", status=Status.PENDING)
    assert [w.name for w in pending_bobs.items] == ["c"]


async def test_deleted_workspaces_are_listed_only_when_asked_for(backend: Backend) -> None:
    await backend.store.add(workspace("gone", minutes=0))
    await backend.store.add(workspace("kept", minutes=1))
    await delete(backend.store, "gone")

    live = await backend.store.list()
    assert ([w.name for w in live.items], live.total) == (["kept"], 1)
    everything = await backend.store.list(include_deleted=True)
    assert ([w.name for w in everything.items], everything.total) == (["gone", "kept"], 2)
    deleted = await backend.store.list(status=Status.DELETED)
    assert [w.name for w in deleted.items] == ["gone"]
    with pytest.raises(NotFoundError):
        await backend.store.get("gone")


async def test_a_live_name_cannot_be_added_twice(backend: Backend) -> None:
    first = await backend.store.add(workspace("alpha", owner="ann"))
    with pytest.raises(ConflictError, match="alpha"):
        await backend.store.add(workspace("alpha", owner="bob"))
    assert await backend.store.get("alpha") == first
    assert (await backend.store.list(include_deleted=True)).total == 1
    job = await claim_one(backend.queue)
    assert job.workspace_id == first.id
    assert await claim(backend.queue) is None, "the refused workspace left a job behind"


async def test_a_name_can_be_reused_once_its_workspace_is_deleted(backend: Backend) -> None:
    old = await backend.store.add(workspace("alpha", owner="ann"))
    await delete(backend.store, "alpha")
    new = await backend.store.add(workspace("alpha", owner="bob", minutes=1))
    assert new.id != old.id
    assert (await backend.store.get("alpha")).id == new.id
    assert (await backend.store.get_by_id(old.id)).status is Status.DELETED
    # A second deleted workspace of the same name is fine too: only live names are unique.
    await delete(backend.store, "alpha")
    assert (await backend.store.list(status=Status.DELETED)).total == 2


async def test_a_deleted_workspace_cannot_come_back_to_a_taken_name(backend: Backend) -> None:
    await backend.store.add(workspace("alpha"))
    gone = await delete(backend.store, "alpha")
    await backend.store.add(workspace("alpha", minutes=1))
    with pytest.raises(ConflictError):
        await backend.store.save(replace(gone, status=Status.STOPPED))
    assert (await backend.store.get_by_id(gone.id)).status is Status.DELETED


async def test_save_writes_every_field_and_bumps_the_version(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    later = T0 + timedelta(hours=1)
    changed = replace(
        added,
        desired=Desired.STOPPED,
        status=Status.FAILED,
        error="the image is missing",
        address="10.213.77.5",
        runtime_state={"instance": "ws-other", "extra": [1, 2]},
        updated_at=later,
    )
    saved = await backend.store.save(changed)
    assert saved.version == added.version + 1
    stored = await backend.store.get_by_id(added.id)
    assert stored == saved
    assert (stored.desired, stored.status, stored.error, stored.address) == (
        Desired.STOPPED,
        Status.FAILED,
        "the image is missing",
        "10.213.77.5",
    )
    assert stored.runtime_state == {"instance": "ws-other", "extra": [1, 2]}
    assert stored.updated_at == later
    assert stored.created_at == T0


async def test_saving_a_stale_copy_is_a_conflict_and_changes_nothing(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue)  # the job from ``add``, generation 1
    winner = await backend.store.save(added.move_to(Status.CREATING))
    with pytest.raises(ConflictError, match="alpha"):
        await backend.store.save(
            replace(added, error="lost update"), event=("status", "lost", ""), enqueue=True
        )
    assert await backend.store.get_by_id(added.id) == winner
    assert [e.value for e in await backend.store.events(added.id)] == ["pending"]
    await backend.queue.complete(job)
    assert await claim(backend.queue) is None, "the refused save enqueued a job"
    # The winner's copy is current, so it saves.
    again = await backend.store.save(winner.move_to(Status.STARTING))
    assert again.version == winner.version + 1


async def test_saving_an_unknown_workspace_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.store.save(workspace("never-added"))


async def test_ping_reads_an_empty_store_and_a_full_one(backend: Backend) -> None:
    assert await backend.store.ping() is None
    await backend.store.add(workspace())
    assert await backend.store.ping() is None


# --- the change marker ---------------------------------------------------------------------

#: Where the marker is cheap enough to offer; PostgreSQL has no local check and says None.
MARKED = {"memory", "sqlite", "postgresql"}


async def heard(backend: Backend, ticket: asyncio.Event) -> None:
    """On PostgreSQL, until a notification rang the store's doorbell after ``ticket`` was
    taken (at most 2 s): the marker moves for another process's write once it is heard."""
    if backend.name == "postgresql":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), 2.0)


async def test_the_change_marker_holds_still_while_nothing_is_written(backend: Backend) -> None:
    await backend.store.add(workspace())
    await heard(backend, backend.store.doorbell.ticket())  # the add's own notification
    before = await backend.store.change_marker()
    await backend.store.list()
    await backend.store.get("alpha")
    after = await backend.store.change_marker()
    if backend.name in MARKED:
        assert before is not None
        assert after == before, "a read moved the marker"
    else:
        assert (before, after) == (None, None)


async def test_the_change_marker_moves_with_every_workspace_write(backend: Backend) -> None:
    seen = [await backend.store.change_marker()]
    added = await backend.store.add(workspace())
    seen.append(await backend.store.change_marker())
    await backend.store.save(added.move_to(Status.CREATING))
    seen.append(await backend.store.change_marker())
    # A write by another process on the same database (the same store where there is none).
    other = backend.another_store()
    ticket = backend.store.doorbell.ticket()
    await other.add(workspace("beta", minutes=1))
    await heard(backend, ticket)
    seen.append(await backend.store.change_marker())
    beta = await other.get("beta")
    ticket = backend.store.doorbell.ticket()
    await other.save(beta.move_to(Status.CREATING))
    await heard(backend, ticket)
    seen.append(await backend.store.change_marker())
    if backend.name in MARKED:
        assert None not in seen
        assert len(set(seen)) == len(seen), f"a write left the marker where it was: {seen}"
    else:
        assert seen == [None] * len(seen)


# --- events --------------------------------------------------------------------------------


async def test_events_are_kept_in_order_and_read_after_a_point(backend: Backend) -> None:
    alpha = await backend.store.add(workspace("alpha"))
    beta = await backend.store.add(workspace("beta", minutes=1))
    creating = await backend.store.save(
        alpha.move_to(Status.CREATING), event=("status", "creating", "")
    )
    await backend.store.add_event(alpha.id, "phase", "instance_created", "0.41s")
    await backend.store.add_event(beta.id, "phase", "booted", "")
    await backend.store.save(creating.move_to(Status.STARTING), event=("status", "starting", ""))

    events = await backend.store.events(alpha.id)
    assert [(e.kind, e.value) for e in events] == [
        ("status", "pending"),
        ("status", "creating"),
        ("phase", "instance_created"),
        ("status", "starting"),
    ]
    assert events[2].detail == "0.41s"
    assert all(e.workspace_id == alpha.id for e in events)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e.at.tzinfo is not None for e in events)

    after_second = await backend.store.events(alpha.id, after=events[1].seq)
    assert [e.value for e in after_second] == ["instance_created", "starting"]
    assert await backend.store.events(alpha.id, after=events[-1].seq) == []
    assert [e.value for e in await backend.store.events(beta.id)] == ["pending", "booted"]


async def test_an_event_for_an_unknown_workspace_is_refused(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.store.add_event("no-such-id", "phase", "booted")


# --- workers' heartbeats -------------------------------------------------------------------


async def test_a_worker_is_silent_once_its_last_beat_is_older_than_the_bound(
    backend: Backend,
) -> None:
    queue = backend.queue
    assert await queue.silent(0.5) == set(), "a worker that never beat is never silent"
    await queue.beat("alive")
    await queue.beat("gone")
    assert await queue.silent(60) == set()
    await asyncio.sleep(1.0)
    await queue.beat("alive")
    assert await queue.silent(0.6) == {"gone"}
    await queue.beat("gone")  # back: a beat again clears it
    assert await queue.silent(0.6) == set()


# --- the job outbox ------------------------------------------------------------------------


async def test_add_enqueues_the_workspace_job(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue)
    assert (job.workspace_id, job.attempts, job.generation) == (added.id, 0, 1)
    assert job.id and job.receipt


async def test_an_empty_queue_has_nothing_to_claim(backend: Backend) -> None:
    assert await claim(backend.queue) is None


async def test_enqueuing_twice_leaves_one_job_of_a_later_generation(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    await backend.store.enqueue(added.id)
    await backend.store.save(added.move_to(Status.CREATING), enqueue=True)
    job = await claim_one(backend.queue)
    assert (job.workspace_id, job.generation) == (added.id, 3)
    assert await claim(backend.queue) is None, "a workspace got a second job"


async def test_enqueuing_an_unknown_workspace_is_refused(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.store.enqueue("no-such-id")


async def test_a_claimed_job_is_leased_to_one_worker(backend: Backend) -> None:
    await backend.store.add(workspace())
    await claim_one(backend.queue)
    assert await claim(backend.queue) is None
    assert await claim(backend.another_queue()) is None, "another worker got a leased job"


async def test_each_job_goes_to_one_claim_oldest_first(backend: Backend) -> None:
    first = await backend.store.add(workspace("first"))
    second = await backend.store.add(workspace("second", minutes=1))
    claimed = [await claim_one(backend.queue), await claim_one(backend.queue)]
    assert [j.workspace_id for j in claimed] == [first.id, second.id]
    assert claimed[0].id != claimed[1].id
    assert await claim(backend.queue) is None


async def test_a_job_whose_lease_ran_out_can_be_claimed_again(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    lapsed = await claim_one(backend.queue, SHORT_LEASE)
    await asyncio.sleep(PAST_SHORT_LEASE)
    taken_over = await claim_one(backend.another_queue())
    assert (taken_over.id, taken_over.workspace_id) == (lapsed.id, added.id)
    assert taken_over.receipt != lapsed.receipt
    # The worker that lost its lease can no longer end or delay the new holder's claim.
    await backend.queue.complete(lapsed)
    await backend.queue.retry(lapsed, 0, "too late")
    assert await claim(backend.queue) is None, "a stale claim released the job"
    await backend.queue.complete(taken_over)
    assert await claim(backend.queue) is None


async def test_extend_keeps_a_lease_past_its_first_end(backend: Backend) -> None:
    await backend.store.add(workspace())
    job = await claim_one(backend.queue, SHORT_LEASE)
    await backend.queue.extend(job, LONG_LEASE)
    await asyncio.sleep(PAST_SHORT_LEASE)
    assert await claim(backend.queue) is None, "an extended lease ended at its first deadline"


async def test_extend_does_not_revive_a_lease_that_was_taken_over(backend: Backend) -> None:
    await backend.store.add(workspace())
    lapsed = await claim_one(backend.queue, SHORT_LEASE)
    await asyncio.sleep(PAST_SHORT_LEASE)
    taken_over = await claim_one(backend.queue, SHORT_LEASE)
    await backend.queue.extend(lapsed, LONG_LEASE)
    await asyncio.sleep(PAST_SHORT_LEASE)
    again = await claim_one(backend.queue)
    assert again.id == taken_over.id


async def test_complete_deletes_the_job(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue, SHORT_LEASE)
    await backend.queue.complete(job)
    assert await claim(backend.queue) is None
    await asyncio.sleep(PAST_SHORT_LEASE)
    assert await claim(backend.queue) is None, "a completed job came back after its lease"
    await backend.store.enqueue(added.id)
    fresh = await claim_one(backend.queue)
    assert fresh.id != job.id
    assert (fresh.generation, fresh.attempts) == (1, 0)


async def test_complete_after_a_new_request_keeps_the_job_for_it(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue)
    await backend.queue.retry(job, 0, "the runtime is restarting")
    job = await claim_one(backend.queue)
    assert job.attempts == 1
    # A request arrives while the job is worked on: the lease is kept, nobody else gets it.
    await backend.store.save(added.move_to(Status.CREATING), enqueue=True)
    assert await claim(backend.another_queue()) is None
    await backend.queue.complete(job)
    rerun = await claim_one(backend.queue)
    assert (rerun.id, rerun.workspace_id) == (job.id, added.id)
    assert rerun.generation == job.generation + 1
    assert rerun.attempts == 0, "the new request inherited the old one's failures"
    await backend.queue.complete(rerun)
    assert await claim(backend.queue) is None


async def test_retry_delays_the_job_and_counts_the_attempt(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue)
    await backend.queue.retry(job, SHORT_LEASE, "Caddy is restarting")
    assert await claim(backend.queue) is None, "a job came back before its retry delay"
    await asyncio.sleep(PAST_SHORT_LEASE)
    again = await claim_one(backend.queue)
    assert (again.id, again.workspace_id, again.attempts) == (job.id, added.id, 1)
    await backend.queue.retry(again, 0, "still restarting")
    third = await claim_one(backend.queue)
    assert third.attempts == 2


async def test_a_new_request_cuts_a_retry_delay_short(backend: Backend) -> None:
    added = await backend.store.add(workspace())
    job = await claim_one(backend.queue)
    await backend.queue.retry(job, LONG_LEASE, "the runtime is restarting")
    await backend.store.enqueue(added.id)
    again = await claim_one(backend.queue)
    assert (again.id, again.attempts, again.generation) == (job.id, 1, 2)


async def test_concurrent_claimers_never_hold_one_job_at_once(backend: Backend) -> None:
    """Four workers, each with its own connection pool, drain twenty jobs."""
    ids = {(await backend.store.add(workspace(f"ws{i}", minutes=i))).id for i in range(20)}
    holding: set[str] = set()
    claimed: list[str] = []
    overlaps: list[str] = []

    async def worker(queue: JobQueue, name: str) -> None:
        while (job := await queue.claim(name, LONG_LEASE)) is not None:
            if job.workspace_id in holding:
                overlaps.append(job.workspace_id)
            holding.add(job.workspace_id)
            claimed.append(job.workspace_id)
            await asyncio.sleep(random.uniform(0, 0.02))  # noqa: S311 - jitter, not security
            holding.discard(job.workspace_id)
            await queue.complete(job)

    queues = [backend.queue, *(backend.another_queue() for _ in range(3))]
    await asyncio.gather(*(worker(q, f"worker-{i}") for i, q in enumerate(queues)))
    assert overlaps == []
    assert sorted(claimed) == sorted(ids), "a job was claimed twice, or never"
    assert await claim(backend.queue) is None


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_database_that_cannot_be_reached_is_a_transient_error(
    kind: str, tmp_path: Path
) -> None:
    """The worker retries ``RuntimeUnavailableError`` with backoff; a raw driver error would
    escape it."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-folder' / 'tidepool.db'}"
    else:  # nothing listens on loopback port 1
        url = "postgresql://tidepool:tidepool@127.0.0.1:1/tidepool_test"
    store, queue = open_store(url)
    try:
        with pytest.raises(RuntimeUnavailableError, match="cannot be reached"):
            await store.get("alpha")
        with pytest.raises(RuntimeUnavailableError, match="cannot be reached"):
            await queue.claim(WORKER, LONG_LEASE)
        with pytest.raises(RuntimeUnavailableError, match="cannot be reached"):
            await store.ping()
        assert await store.change_marker() is None, "a marker from a database never read"
    finally:
        await queue.aclose()
        await store.aclose()
