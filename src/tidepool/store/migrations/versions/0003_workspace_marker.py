"""A change marker for the workspaces on PostgreSQL: one row, bumped by a trigger in the same
transaction as every write to ``workspaces``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

The API keeps each list page it sent and sends it again while the store's change marker is
where it was (``api.routers.workspaces.RenderedPages``). SQLite has one for free (``PRAGMA
data_version``); PostgreSQL had none, so every list request read and rendered its page. A
trigger, not the store's own code, bumps it: every write counts, whoever makes it (another
``serve``, a database copy, an operator's SQL), and in the writer's own transaction, so a
reader that sees the marker unchanged has seen no write committed since. The price: writes
to ``workspaces`` take the one row's lock until they commit, one after the other (they are
short). The table is outside Tidepool's ``metadata``: not copied by ``tidepool database
copy``, which migrates the target first (and so makes its own row). SQLite gets nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE workspace_marker "
        "(id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)"
    )
    op.execute("INSERT INTO workspace_marker (id, version) VALUES (1, 0)")
    op.execute(
        "CREATE FUNCTION tidepool_bump_workspace_marker() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN UPDATE workspace_marker SET version = version + 1 WHERE id = 1; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER tidepool_workspace_marker "
        "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workspaces "
        "FOR EACH STATEMENT EXECUTE FUNCTION tidepool_bump_workspace_marker()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER tidepool_workspace_marker ON workspaces")
    op.execute("DROP FUNCTION tidepool_bump_workspace_marker()")
    op.execute("DROP TABLE workspace_marker")
