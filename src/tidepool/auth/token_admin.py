"""Creating, listing and revoking API tokens for an identity: the one path for the API, the
web app and the CLI, so who may mint what is decided (``Identity.check_may_grant``) and
recorded (the audit trail) the same way whichever door the request came through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tidepool.auth.tokens import ApiToken, TokenStore, check_label_and_days
from tidepool.auth.users import UserFile, validate_user_name
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.identity import (
    DEFAULT_SCOPES,
    Identity,
    parse_scopes,
    parse_workspace_limit,
)
from tidepool.errors import ForbiddenError, NotFoundError
from tidepool.ports import AuditTrail


@dataclass
class TokenAdmin:
    tokens: TokenStore
    users: UserFile
    audit: AuditTrail | None = None

    async def _record(
        self, who: Identity, action: str, target: str, outcome: Outcome, detail: str = ""
    ) -> None:
        if self.audit is not None:
            await self.audit.record(AuditEntry.by(who, action, target, outcome, detail))

    async def create(
        self,
        who: Identity,
        *,
        user: str | None = None,
        label: str = "",
        days: float | None = None,
        scopes: Iterable[str] | None = None,
        workspaces: Iterable[str] | None = None,
    ) -> tuple[str, ApiToken]:
        """A new token for ``user`` (``who`` by default): the secret, shown once, and its
        record. Input is checked first (``InvalidInputError``), then the right to mint it
        (``ForbiddenError``, recorded), then that the user exists; nothing is written unless
        all pass."""
        owner = validate_user_name(user if user is not None else who.name)
        wanted = parse_scopes(scopes) if scopes is not None else DEFAULT_SCOPES
        limit = parse_workspace_limit(workspaces)
        check_label_and_days(label, days)
        try:
            who.check_may_grant(owner, wanted, owner in self.users.admins())
        except ForbiddenError as refused:
            await self._record(who, "token.create", owner, Outcome.DENIED, str(refused))
            raise
        if owner not in self.users.names():
            raise NotFoundError(f"There is no user {owner!r}: add one with `tidepool user add`.")
        secret, token = self.tokens.create(owner, label, days, scopes=wanted, workspaces=limit)
        await self._record(who, "token.create", token.id, Outcome.OK, describe(token))
        return secret, token

    def list(self, who: Identity, user: str | None = None) -> list[ApiToken]:
        """``who``'s own tokens; an admin's choice of one user's, or everyone's (no user)."""
        if user is not None:
            validate_user_name(user)
            if not who.may_manage_tokens_of(user):
                who.check_admin("list other users' tokens")
            return self.tokens.list(user)
        return self.tokens.list(None if who.admin else who.name)

    async def revoke(self, who: Identity, token_id: str) -> ApiToken:
        """Revoke one of ``who``'s tokens, or anyone's for an admin; someone else's token
        answers as a missing one."""
        try:
            who.check_may_revoke()
        except ForbiddenError as refused:
            await self._record(who, "token.revoke", token_id, Outcome.DENIED, str(refused))
            raise
        token = self.tokens.get(token_id)
        if not who.may_manage_tokens_of(token.user):
            await self._record(
                who, "token.revoke", token_id, Outcome.DENIED, "someone else's token"
            )
            raise NotFoundError(f"There is no token {token_id!r}.")
        revoked = self.tokens.revoke(token_id)
        await self._record(who, "token.revoke", token_id, Outcome.OK, f"of {token.user}")
        return revoked


def describe(token: ApiToken) -> str:
    """A token's powers in a few words, for the audit log."""
    scopes = ",".join(sorted(token.effective_scopes))
    limit = f" workspaces={','.join(sorted(token.workspaces))}" if token.workspaces else ""
    return f"for {token.user} scopes={scopes}{limit}"
