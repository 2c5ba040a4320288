"""One-time codes: how a workspace origin learns who the browser is without sharing a cookie.

The control plane's session cookie never leaves the main host. A browser that opens a
workspace origin without a grant is sent to the control plane (``/api/auth/handshake``),
which checks the user and that they may open the workspace, then sends it back to the
workspace origin with a code. The origin trades the code for its own grant
(``/_tidepool/exchange``). A code is good once, for about a minute, for one user on one
origin; only its hash is kept, so the table holds nothing worth stealing.

On SQLite (one host, one control plane) codes live in memory here: a code lives for a minute,
and a restart costs a browser one more redirect, never a sign-in. Where several ``serve``
share PostgreSQL, the code may be issued by one and traded at another, so they are rows of the
database instead (``tidepool.store.handshake_codes.SharedCodes``, the same ``CodeBook``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tidepool.auth.records import fingerprint
from tidepool.domain.origins import WorkspaceHost

CODE_LIFETIME_SECONDS = 60.0
#: Codes outstanding at once, at most: a flood of handshakes forgets the oldest first.
MAX_CODES = 10_000


@dataclass(frozen=True, slots=True)
class CodeClaim:
    """Who a code was issued to: the user, the origin it is for, and the sign-in behind it."""

    user: str
    host: WorkspaceHost
    source: str


class CodeBook(Protocol):
    """Where codes are kept: this process's memory (``HandshakeCodes``) or the database."""

    def issue(self, claim: CodeClaim) -> str:
        """A new code for ``claim``; only its hash is kept."""

    def redeem(self, code: str, host: WorkspaceHost) -> CodeClaim | None:
        """The claim behind ``code`` if it is live and for ``host``; spent either way, once."""


@dataclass(frozen=True, slots=True)
class _Issued:
    claim: CodeClaim
    expires: float


class HandshakeCodes:
    def __init__(
        self,
        lifetime_seconds: float = CODE_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._issued: dict[str, _Issued] = {}

    def issue(self, claim: CodeClaim) -> str:
        """A new code for ``claim``; only its hash is kept."""
        self._forget_expired()
        while len(self._issued) >= MAX_CODES:
            del self._issued[next(iter(self._issued))]
        code = secrets.token_urlsafe(32)
        self._issued[fingerprint(code)] = _Issued(claim, self._clock() + self._lifetime)
        return code

    def redeem(self, code: str, host: WorkspaceHost) -> CodeClaim | None:
        """The claim behind ``code`` if it is live and for ``host``; it is spent either way,
        so a code shown to the wrong origin (or a second time) is worth nothing after."""
        if not code or len(code) > 128:
            return None
        issued = self._issued.pop(fingerprint(code), None)
        if issued is None or issued.expires <= self._clock():
            return None
        if not hmac.compare_digest(issued.claim.host.label, host.label):
            return None
        return issued.claim

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._issued.items() if v.expires <= now]:
            del self._issued[key]
