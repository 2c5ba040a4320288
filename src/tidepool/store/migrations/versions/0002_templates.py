"""Templates: each workspace keeps the template it was made from and its size.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

One JSON column (``{"template": ..., "cpus": ..., "memory_mib": ..., "disk_gib": ...}``)
rather than four: a size is read and written whole. Workspaces made before templates get
``{}``: the ``default`` template, sized by the platform's settings of the day, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch (which rebuilds the table on SQLite): the events and
    # jobs that refer to the workspaces would stop the old table being dropped.
    op.add_column(
        "workspaces",
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
    )


def downgrade() -> None:
    op.drop_column("workspaces", "spec")
