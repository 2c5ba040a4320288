"""Workers' heartbeats: each worker's last sign of life, one row per worker.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

A worker killed on another host (or whose host went away) held its jobs until their leases
ran out (60 s): nothing on this host could prove its pid gone. Now each worker writes its
row every ``HEARTBEAT_SECONDS``, and a worker whose row is older than ``SILENT_AFTER``
loses its leases at once. A worker from before (no row) is never taken for silent: its
leases run out as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), primary_key=True),
        # (``tables.UtcDateTime`` is this to the database: spelled out, as in 0001)
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
