"""The schema, as SQLAlchemy Core tables; ``migrations/versions`` builds exactly this.

Three tables:

- ``workspaces``: one row per workspace ever created. A deleted workspace keeps its row (its
  id, history and events stay readable), so a name is unique only among rows that are not
  ``deleted``: a PARTIAL unique index, which SQLite and PostgreSQL both enforce.
- ``workspace_events``: the append-only log streamed to clients. ``seq`` is one counter for the
  whole store so a reader resumes with "everything after N".
- ``jobs``: the outbox. At most one row per workspace (unique ``workspace_id``): enqueuing again
  bumps ``generation`` instead of adding a row, so a worker finishing an older generation knows
  a newer request is waiting.

Free text is ``Text`` (no length that PostgreSQL would enforce and SQLite would not), so every
backend accepts the same rows.

Every time is timezone-aware UTC. SQLite has no such type, so ``UtcDateTime`` stores naive UTC
in SQLAlchemy's fixed-width text format (which sorts and compares correctly as text) and hands
back aware datetimes; PostgreSQL uses ``timestamptz``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

#: The constraint and index names are fixed here, not generated, so that the migrations and
#: the code that maps IntegrityError to a typed error agree on them.
LIVE_NAME_INDEX = "uq_workspaces_live_name"
NOT_DELETED = sa.text("status != 'deleted'")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Tidepool stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSONB on PostgreSQL (smaller, indexable); plain JSON text on SQLite.
Json: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")
#: SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("owner", sa.Text(), nullable=False),
    sa.Column("image", sa.Text(), nullable=False),
    sa.Column("desired", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text(), nullable=False, server_default=""),
    sa.Column("address", sa.Text(), nullable=True),
    sa.Column("runtime_state", Json, nullable=False),
    sa.Column("spec", Json, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Index(
        LIVE_NAME_INDEX,
        "name",
        unique=True,
        sqlite_where=NOT_DELETED,
        postgresql_where=NOT_DELETED,
    ),
    sa.Index("ix_workspaces_created_at", "created_at", "id"),
    sa.Index("ix_workspaces_owner", "owner"),
)

workspace_events = sa.Table(
    "workspace_events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "workspace_id",
        sa.String(64),
        sa.ForeignKey("workspaces.id", name="fk_workspace_events_workspace_id"),
        nullable=False,
    ),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_workspace_events_workspace_id_seq", "workspace_id", "seq"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(64),
        sa.ForeignKey("workspaces.id", name="fk_jobs_workspace_id"),
        nullable=False,
    ),
    sa.Column("run_after", UtcDateTime(), nullable=False),
    sa.Column("lease_owner", sa.Text(), nullable=True),
    #: A fresh token per claim: only the claim holding it may extend, retry or complete.
    sa.Column("lease_receipt", sa.String(32), nullable=True),
    sa.Column("lease_until", UtcDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", name="uq_jobs_workspace_id"),
    sa.Index("ix_jobs_run_after", "run_after"),
)

#: Each worker's last sign of life: a worker silent for longer than the queue's bound loses
#: its leases at once, on whichever host it ran (``JobQueue.silent``).
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("beat_at", UtcDateTime(), nullable=False),
)
