"""One-time handshake codes as rows of PostgreSQL, so any ``serve`` trades a code any issued.

Behind a load balancer the browser's request for a code (``/api/auth/handshake``) and its
trade on the workspace origin (``/_tidepool/exchange``) may reach two processes. Each code is
a row of ``handshake_codes`` (migration 0005) keyed by its hash, never the code, with its
expiry in the database's clock (hosts' clocks may drift; a minute is short). Trading it is one
``DELETE ... RETURNING``: of two processes racing with the same code exactly one gets the row,
and the code is spent whether or not it was for that origin, as in memory.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tidepool.auth.handshake import CODE_LIFETIME_SECONDS, CodeClaim
from tidepool.auth.records import fingerprint
from tidepool.domain.origins import WorkspaceHost
from tidepool.store.records import reachable, shared

handshake_codes = sa.Table(
    "handshake_codes",
    shared,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("workspace", sa.String(200), nullable=False),
    sa.Column("port", sa.Integer(), nullable=True),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class SharedCodes:
    """``HandshakeCodes`` over the database (``tidepool.auth.handshake.CodeBook``)."""

    def __init__(self, engine: Engine, lifetime_seconds: float = CODE_LIFETIME_SECONDS) -> None:
        self._engine = engine
        self._lifetime = timedelta(seconds=lifetime_seconds)

    def issue(self, claim: CodeClaim) -> str:
        """A new code for ``claim``; only its hash is stored. Expired codes go on the way."""
        code = secrets.token_urlsafe(32)
        now = sa.func.now()
        with reachable("issuing a sign-in code"), self._engine.begin() as connection:
            connection.execute(
                sa.delete(handshake_codes).where(handshake_codes.c.expires_at <= now)
            )
            connection.execute(
                sa.insert(handshake_codes).values(
                    code_hash=fingerprint(code),
                    user_name=claim.user,
                    workspace=claim.host.name,
                    port=claim.host.port,
                    source=claim.source,
                    expires_at=now + sa.literal(self._lifetime, sa.Interval()),
                )
            )
        return code

    def redeem(self, code: str, host: WorkspaceHost) -> CodeClaim | None:
        """The claim behind ``code`` if it is live and for ``host``; spent either way."""
        if not code or len(code) > 128:
            return None
        taken = (
            sa.delete(handshake_codes)
            .where(handshake_codes.c.code_hash == fingerprint(code))
            .returning(
                handshake_codes.c.user_name,
                handshake_codes.c.workspace,
                handshake_codes.c.port,
                handshake_codes.c.source,
                handshake_codes.c.expires_at > sa.func.now(),
            )
        )
        with reachable("trading a sign-in code"), self._engine.begin() as connection:
            row = connection.execute(taken).one_or_none()
        if row is None or not row[4]:
            return None
        issued = WorkspaceHost(str(row[1]), None if row[2] is None else int(row[2]))
        if not hmac.compare_digest(issued.label, host.label):
            return None
        return CodeClaim(str(row[0]), issued, str(row[3]))
