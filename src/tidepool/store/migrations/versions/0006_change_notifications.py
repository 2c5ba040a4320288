"""Change notifications on PostgreSQL: every committed write to workspaces, events or jobs
sends ``NOTIFY tidepool_changes``, so every ``serve`` sharing the database hears of it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Each process has a doorbell that its own writes ring (``tidepool.domain.doorbell``): the
worker's idle wait and every event stream wake at once for them, but a write by another
process was seen only at the next poll. Each process now keeps one connection that LISTENs
(``tidepool.store.notifications``) and rings its doorbell on every notification, and keeps the
change marker of the API's list pages in memory instead of reading migration 0003's row per
request.

A trigger, not the store's own code, sends it: every write counts, whoever makes it (another
``serve``, an operator's SQL), and ``pg_notify`` inside the writer's own transaction is
delivered only when, and only if, that transaction commits; by then the write is visible to
any snapshot taken after the notification arrives. Row triggers, not statement triggers: a
statement that changes nothing (a worker's claim that finds no job) must not notify, or every
worker in every process would wake to claim again and notify again, forever. PostgreSQL folds
identical notifications of one transaction into one, so a statement over many rows sends one.
The payload is ``schema.table``: a listener ignores other schemas (tests, or two installations
on one database). TRUNCATE has only statement triggers. The price: a committing writer takes
PostgreSQL's notification queue lock for a moment, so notifying commits go one at a time.

SQLite gets nothing: it serves one process family on one host, whose writes ring the doorbell
themselves, and its ``PRAGMA data_version`` already sees other connections' commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose writes wake someone: the list (workspaces), streams (events), workers (jobs).
TABLES = ("workspaces", "workspace_events", "jobs")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION tidepool_notify_change() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('tidepool_changes', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME); "
        "RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER tidepool_notify_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tidepool_notify_change()"
        )
        op.execute(
            f"CREATE TRIGGER tidepool_notify_{table}_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tidepool_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER tidepool_notify_{table}_truncate ON {table}")
        op.execute(f"DROP TRIGGER tidepool_notify_{table} ON {table}")
    op.execute("DROP FUNCTION tidepool_notify_change()")
