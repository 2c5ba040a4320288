"""``SqlWorkspaceStore`` and ``SqlJobQueue``: the store and job queue ports over SQLAlchemy.

Both run on one asyncio engine (``open_store``): aiosqlite for SQLite, psycopg 3 for
PostgreSQL, so no database call blocks the event loop. The rules they keep are written in
``tidepool.ports``; how they keep them:

- The outbox. Every write that asks for work enqueues the workspace's job in the SAME
  transaction, through one upsert on the ``jobs`` row (unique per workspace): a new row has
  generation 1; an existing row gets its generation bumped and is due now, its lease untouched
  so a job being worked on is not handed to a second worker.
- Optimistic concurrency. ``save`` is ``UPDATE ... WHERE id = ? AND version = ?``; no row
  means someone else wrote first (``ConflictError``) or the workspace does not exist
  (``NotFoundError``).
- Claims. One statement picks the next due, unleased (or lease-expired) row and leases it:
  ``UPDATE jobs ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ...``.
  On PostgreSQL, SKIP LOCKED lets concurrent claimers pass over a row another is taking
  instead of waiting for it and then both taking it; on SQLite the statement runs inside a
  ``BEGIN IMMEDIATE`` transaction, so claims are serialized (SQLite has no FOR UPDATE).
- Receipts. Each claim gets a fresh receipt; ``extend``, ``retry`` and ``complete`` act only
  while the row still carries it. A worker whose lease ran out and was re-claimed by another
  therefore cannot release, delay or delete the other's claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from tidepool.domain.workspace import Status, Workspace, now
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError, StaleWriteError
from tidepool.ports import Backlog, Event, Job, Page
from tidepool.store.database import Database
from tidepool.store.heartbeats import beat, silent
from tidepool.store.rows import WORKSPACE_COLUMNS, row_of, workspace_of
from tidepool.store.tables import jobs, workspace_events, workspaces
from tidepool.store.urls import async_url

if TYPE_CHECKING:
    from tidepool.store.notifications import Listener

__all__ = ["SqlJobQueue", "SqlWorkspaceStore", "async_url", "open_store"]

_LIVE = workspaces.c.status != Status.DELETED.value


def open_store(url: str) -> tuple[SqlWorkspaceStore, SqlJobQueue]:
    """The store and the queue for the database at ``url``, sharing one engine.

    Nothing connects yet; the schema must exist (``tidepool.store.migrate.upgrade``). Close
    either one (``aclose``) to close the engine; they are not used afterwards.
    """
    database = Database(url)
    return SqlWorkspaceStore(database), SqlJobQueue(database)


class SqlWorkspaceStore:
    """The ``WorkspaceStore`` port on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._db = database
        #: The engine and backend under this store (the control planes' lead is held there).
        self.database = database
        self.doorbell = database.doorbell

    async def add(self, workspace: Workspace) -> Workspace:
        try:
            async with self._db.write() as connection:
                await connection.execute(sa.insert(workspaces).values(row_of(workspace)))
                await _append_event(connection, workspace.id, "status", workspace.status.value, "")
                await _enqueue(self._db, connection, workspace.id)
        except sa.exc.IntegrityError as error:
            raise ConflictError(f"A workspace named {workspace.name!r} exists already.") from error
        self.doorbell.ring()
        return workspace

    async def get(self, name: str) -> Workspace:
        query = sa.select(*WORKSPACE_COLUMNS).where(workspaces.c.name == name, _LIVE)
        row = await self._db.read_in_thread(lambda c: c.execute(query).first())
        if row is None:
            raise NotFoundError(f"No workspace named {name!r}.")
        return workspace_of(row)

    async def get_by_id(self, workspace_id: str) -> Workspace:
        query = sa.select(*WORKSPACE_COLUMNS).where(workspaces.c.id == workspace_id)
        row = await self._db.read_in_thread(lambda c: c.execute(query).first())
        if row is None:
            raise NotFoundError(f"No workspace with id {workspace_id!r}.")
        return workspace_of(row)

    async def list(
        self,
        *,
        status: Status | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> Page:
        """Workspaces by creation time (then id); ``deleted`` ones only if asked for by
        ``include_deleted`` or by ``status=Status.DELETED``."""
        if limit < 0 or offset < 0:
            raise InvalidInputError("limit and offset must not be negative.")
        conditions: list[sa.ColumnElement[bool]] = []
        if status is not None:
            conditions.append(workspaces.c.status == status.value)
        elif not include_deleted:
            conditions.append(_LIVE)
        if owner is not None:
            conditions.append(workspaces.c.owner == owner)
        count = sa.select(sa.func.count()).select_from(workspaces).where(*conditions)
        query = (
            sa.select(*WORKSPACE_COLUMNS)
            .where(*conditions)
            .order_by(workspaces.c.created_at, workspaces.c.id)
            .limit(limit)
            .offset(offset)
        )

        def page(connection: Connection) -> Page:
            total = connection.execute(count).scalar_one()
            rows = connection.execute(query).all()
            return Page(items=[workspace_of(row) for row in rows], total=total)

        return await self._db.read_in_thread(page)

    async def save(
        self,
        workspace: Workspace,
        *,
        event: tuple[str, str, str] | None = None,
        enqueue: bool = False,
    ) -> Workspace:
        saved = replace(workspace, version=workspace.version + 1)
        values = {k: v for k, v in row_of(saved).items() if k not in ("id", "created_at")}
        update = (
            sa.update(workspaces)
            .where(workspaces.c.id == workspace.id, workspaces.c.version == workspace.version)
            .values(values)
        )
        try:
            async with self._db.write() as connection:
                if (await connection.execute(update)).rowcount == 0:
                    await _explain_lost_update(connection, workspace)
                if event is not None:
                    await _append_event(connection, workspace.id, *event)
                if enqueue:
                    await _enqueue(self._db, connection, workspace.id)
        except sa.exc.IntegrityError as error:
            raise ConflictError(f"A workspace named {workspace.name!r} exists already.") from error
        if event is not None or enqueue:
            self.doorbell.ring()
        return saved

    async def add_event(self, workspace_id: str, kind: str, value: str, detail: str = "") -> None:
        async with self._db.write() as connection:
            # Lock the workspace row: events of one workspace then commit in ``seq`` order, so
            # a reader resuming "after N" can never miss an event that committed late.
            lock = (
                sa.select(workspaces.c.id).where(workspaces.c.id == workspace_id).with_for_update()
            )
            if (await connection.execute(lock)).first() is None:
                raise NotFoundError(f"No workspace with id {workspace_id!r}.")
            await _append_event(connection, workspace_id, kind, value, detail)
        self.doorbell.ring()

    async def latest_event_seq(self) -> int:
        async with self._db.read() as connection:
            latest = await connection.scalar(sa.select(sa.func.max(workspace_events.c.seq)))
        return int(latest or 0)

    async def events(
        self, workspace_id: str | None, after: int = 0, limit: int = 1000
    ) -> Sequence[Event]:
        query = (
            sa.select(workspace_events)
            .where(workspace_events.c.seq > after)
            .order_by(workspace_events.c.seq)
            .limit(limit)
        )
        if workspace_id is not None:
            query = query.where(workspace_events.c.workspace_id == workspace_id)
        async with self._db.read() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            Event(
                seq=row["seq"],
                workspace_id=row["workspace_id"],
                kind=row["kind"],
                value=row["value"],
                detail=row["detail"],
                at=row["at"],
            )
            for row in rows
        ]

    async def enqueue(self, workspace_id: str) -> None:
        try:
            async with self._db.write() as connection:
                await _enqueue(self._db, connection, workspace_id)
        except sa.exc.IntegrityError as error:
            raise NotFoundError(f"No workspace with id {workspace_id!r}.") from error
        self.doorbell.ring()

    async def ping(self) -> None:
        """One row of ``workspaces``, not counted: proves the schema is there, at any size."""
        query = sa.select(workspaces.c.id).limit(1)
        await self._db.read_in_thread(lambda c: c.execute(query).first())

    async def change_marker(self) -> int | None:
        return await self._db.change_marker()

    def listen(self) -> Listener | None:
        """On PostgreSQL, hear every process's writes from now on (``Database.listen``)."""
        return self._db.listen()

    async def aclose(self) -> None:
        await self._db.aclose()


class SqlJobQueue:
    """The ``JobQueue`` port on the ``jobs`` table: the database is the queue."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def backlog(self) -> Backlog:
        due = jobs.c.run_after <= self._db.now()
        query = sa.select(sa.func.count(), sa.func.min(sa.case((due, jobs.c.run_after))))
        async with self._db.read() as connection:
            count, first = (await connection.execute(query)).one()
        waited = (now() - first).total_seconds() if first is not None else 0.0
        return Backlog(jobs=int(count), oldest_due_seconds=max(waited, 0.0))

    async def claim(self, worker: str, lease_seconds: float) -> Job | None:
        receipt = uuid.uuid4().hex
        async with self._db.write(workspaces=False) as connection:
            # Built inside the transaction: on SQLite "now" is read after the write lock is ours.
            row = (
                await connection.execute(self._claim_statement(worker, receipt, lease_seconds))
            ).first()
        if row is None:
            return None
        return Job(
            id=row.id,
            workspace_id=row.workspace_id,
            attempts=row.attempts,
            generation=row.generation,
            receipt=receipt,
        )

    def _claim_statement(self, worker: str, receipt: str, lease_seconds: float) -> sa.UpdateBase:
        due = jobs.alias("due")  # aliased, or the subquery would correlate to the UPDATE
        now = self._db.now()
        pick = (
            sa.select(due.c.id)
            .where(
                due.c.run_after <= now,
                sa.or_(due.c.lease_until.is_(None), due.c.lease_until <= now),
            )
            .order_by(due.c.run_after, due.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return (
            sa.update(jobs)
            .where(jobs.c.id == pick)
            .values(
                lease_owner=worker,
                lease_receipt=receipt,
                lease_until=self._db.now(lease_seconds),
            )
            .returning(jobs.c.id, jobs.c.workspace_id, jobs.c.attempts, jobs.c.generation)
        )

    async def extend(self, job: Job, lease_seconds: float) -> None:
        async with self._db.write(workspaces=False) as connection:
            await connection.execute(
                sa.update(jobs).where(*_held(job)).values(lease_until=self._db.now(lease_seconds))
            )

    async def complete(self, job: Job) -> None:
        """Delete the job; if it was enqueued again meanwhile, release it for the new request
        (with a fresh attempt count, since the old request's failures are not the new one's)."""
        async with self._db.write(workspaces=False) as connection:
            deleted = await connection.execute(
                sa.delete(jobs).where(*_held(job), jobs.c.generation == job.generation)
            )
            if deleted.rowcount == 0:
                await connection.execute(
                    sa.update(jobs).where(*_held(job)).values(_released(attempts=0, last_error=""))
                )

    async def retry(self, job: Job, delay_seconds: float, error: str) -> None:
        async with self._db.write(workspaces=False) as connection:
            await connection.execute(
                sa.update(jobs)
                .where(*_held(job))
                .values(
                    _released(
                        run_after=self._db.now(max(delay_seconds, 0.0)),
                        attempts=jobs.c.attempts + 1,
                        last_error=error,
                    )
                )
            )

    async def release_abandoned(self, dead: Callable[[str], bool]) -> int:
        """Release the live leases whose owner ``dead`` proves gone (the attempt not counted:
        the worker died, the work did not fail)."""
        now = self._db.now()
        async with self._db.read() as connection:
            owners = (
                await connection.execute(
                    sa.select(jobs.c.lease_owner)
                    .where(jobs.c.lease_owner.is_not(None), jobs.c.lease_until > now)
                    .distinct()
                )
            ).scalars()
            gone = [owner for owner in owners if owner is not None and dead(owner)]
        if not gone:
            return 0
        async with self._db.write(workspaces=False) as connection:
            released = await connection.execute(
                sa.update(jobs)
                .where(jobs.c.lease_owner.in_(gone), jobs.c.lease_until > self._db.now())
                .values(_released())
            )
        return int(released.rowcount)

    async def beat(self, worker: str) -> None:
        await beat(self._db, worker)

    async def silent(self, after_seconds: float) -> set[str]:
        return await silent(self._db, after_seconds)

    async def aclose(self) -> None:
        await self._db.aclose()


# --- statements shared by the store and the queue ------------------------------------------


async def _enqueue(database: Database, connection: AsyncConnection, workspace_id: str) -> None:
    """Insert the workspace's job, or re-arm the one it has (due now, next generation)."""
    insert = postgresql.insert if database.backend == "postgresql" else sqlite.insert
    now = database.now()
    statement = (
        insert(jobs)
        .values(
            id=uuid.uuid4().hex,
            workspace_id=workspace_id,
            run_after=now,
            attempts=0,
            generation=1,
            last_error="",
            created_at=now,
        )
        .on_conflict_do_update(
            index_elements=[jobs.c.workspace_id],
            set_={"generation": jobs.c.generation + 1, "run_after": now},
        )
    )
    await connection.execute(statement)


async def _append_event(
    connection: AsyncConnection, workspace_id: str, kind: str, value: str, detail: str
) -> None:
    await connection.execute(
        sa.insert(workspace_events).values(
            workspace_id=workspace_id, kind=kind, value=value, detail=detail, at=now()
        )
    )


async def _explain_lost_update(connection: AsyncConnection, workspace: Workspace) -> None:
    """Raise why ``save`` updated nothing: gone, or changed by someone else first."""
    stored = await connection.scalar(
        sa.select(workspaces.c.version).where(workspaces.c.id == workspace.id)
    )
    if stored is None:
        raise NotFoundError(f"No workspace with id {workspace.id!r}.")
    raise StaleWriteError(
        f"Workspace {workspace.name!r} was changed meanwhile (version {stored}, this copy is "
        f"version {workspace.version}); read it again and retry."
    )


def _held(job: Job) -> tuple[sa.ColumnElement[bool], ...]:
    return (jobs.c.id == job.id, jobs.c.lease_receipt == job.receipt)


def _released(**changes: Any) -> dict[str, Any]:
    return {"lease_owner": None, "lease_receipt": None, "lease_until": None, **changes}
