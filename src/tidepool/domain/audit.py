"""What the audit log records: one entry per sign-in, sign-out, user or token change, and
workspace action (and every refused attempt at one).

Pure records and the one rule for choosing entries (``AuditQuery.matches``); where they are
kept is the ``AuditTrail`` port's business (``tidepool.ports``).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from tidepool.domain.identity import Identity

#: What a query returns at most, whatever it asks: the answer is one JSON body.
MAX_AUDIT_LIMIT = 1000


class Outcome(enum.StrEnum):
    OK = "ok"
    #: The caller was known but not allowed (a read token stopping, a hidden workspace).
    DENIED = "denied"
    #: The attempt itself failed (a wrong password, a name taken, bad input).
    FAILED = "failed"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    #: ``auth.login``, ``auth.logout``, ``user.add``, ``token.create``, ``workspace.stop``...
    action: str
    #: Who acted (a user name, ``local`` for the host; for a failed sign-in, the name tried).
    actor: str
    #: What was acted on: a workspace, user or token id ("" when nothing in particular).
    target: str
    outcome: Outcome
    #: The API token the actor used ("" for a session, the host, or a sign-in).
    token: str = ""
    #: The client's address as Caddy saw it; ``host`` for the host's own commands.
    address: str = ""
    #: Why, for a refusal or a failure; what changed, for some successes.
    detail: str = ""
    at: dt.datetime = field(default_factory=_now)

    @classmethod
    def by(
        cls, who: Identity, action: str, target: str, outcome: Outcome, detail: str = ""
    ) -> AuditEntry:
        """An entry for what ``who`` did or tried."""
        return cls(
            action=action,
            actor=who.name,
            target=target,
            outcome=outcome,
            token=who.token_id,
            address=who.address,
            detail=detail,
        )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries to return: at or after ``since``, by ``actor``, of ``action`` (an exact
    action, or a family such as ``workspace``), the newest ``limit`` of them."""

    since: dt.datetime | None = None
    actor: str | None = None
    action: str | None = None
    limit: int = 100

    def matches(self, entry: AuditEntry) -> bool:
        if self.since is not None and entry.at < self.since:
            return False
        if self.actor is not None and entry.actor != self.actor:
            return False
        if self.action is not None:
            return entry.action == self.action or entry.action.startswith(f"{self.action}.")
        return True
