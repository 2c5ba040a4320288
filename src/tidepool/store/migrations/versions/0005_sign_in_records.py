"""Sign-in records and handshake codes in the database, for several ``serve`` on PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Users, sessions, tokens, SSH keys, personal settings and idle choices were small JSON files in
each host's data directory: several ``serve`` sharing one PostgreSQL each had their own, so a
browser signed in through one was a stranger to the next. On PostgreSQL each of those files is
now one row of ``sign_in_records`` (its records as JSON, and a version bumped by every change,
which readers compare to know whether their copy is stale); the one-time handshake codes, kept
in memory until now, are rows of ``handshake_codes`` (only each code's hash), so a code issued
by one process is traded at another. SQLite keeps the files (one host, one data directory:
``tidepool.sign_in_records``), so the tables are made on PostgreSQL only, like 0003's marker,
and stay outside ``tables.metadata`` (``database copy`` moves the files, not rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "sign_in_records",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "handshake_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("workspace", sa.String(200), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        # (``tables.UtcDateTime`` is this to the database: spelled out, as in 0001)
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("handshake_codes_expires", "handshake_codes", ["expires_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("handshake_codes_expires", "handshake_codes")
    op.drop_table("handshake_codes")
    op.drop_table("sign_in_records")
