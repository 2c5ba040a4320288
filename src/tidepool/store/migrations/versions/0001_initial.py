"""The first schema: workspaces, their event log, and the job outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

The types are spelled out here rather than imported from ``tables``: a migration is a record of
what was done once, and must not change when ``tables`` later does. ``UtcDateTime`` is a
``DateTime(timezone=True)`` to the database, JSON is JSONB on PostgreSQL, and the event counter
is an INTEGER PRIMARY KEY on SQLite (the only form SQLite auto-increments).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_DELETED = sa.text("status != 'deleted'")


def _time(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "runtime_state",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        _time("created_at"),
        _time("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_workspaces_live_name",
        "workspaces",
        ["name"],
        unique=True,
        sqlite_where=NOT_DELETED,
        postgresql_where=NOT_DELETED,
    )
    op.create_index("ix_workspaces_created_at", "workspaces", ["created_at", "id"])
    op.create_index("ix_workspaces_owner", "workspaces", ["owner"])

    op.create_table(
        "workspace_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "workspace_id",
            sa.String(64),
            sa.ForeignKey("workspaces.id", name="fk_workspace_events_workspace_id"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        _time("at"),
    )
    op.create_index(
        "ix_workspace_events_workspace_id_seq", "workspace_events", ["workspace_id", "seq"]
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(64),
            sa.ForeignKey("workspaces.id", name="fk_jobs_workspace_id"),
            nullable=False,
        ),
        _time("run_after"),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_receipt", sa.String(32), nullable=True),
        _time("lease_until", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        _time("created_at"),
        sa.UniqueConstraint("workspace_id", name="uq_jobs_workspace_id"),
    )
    op.create_index("ix_jobs_run_after", "jobs", ["run_after"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("workspace_events")
    op.drop_index("ix_workspaces_owner", table_name="workspaces")
    op.drop_index("ix_workspaces_created_at", table_name="workspaces")
    op.drop_index("uq_workspaces_live_name", table_name="workspaces")
    op.drop_table("workspaces")
