"""Who is asking: the identity every use case is decided for.

The API builds one from what Caddy vouched for (a session, a token, a basic-auth user), the
CLI over the host's unix socket and the by-hand commands act as the host itself. Which
workspaces an identity may see and act on, and what its credential lets it do, is decided
here, once, for all of them.

An API token carries scopes, and may be limited to named workspaces:

- ``read``: see what the user may see (every token can; it is the floor);
- ``workspaces``: create, start, stop and delete the workspaces the user may act on;
- ``admin``: the user's admin powers (everyone's workspaces, the audit log, others' tokens).
  Without it an admin's token acts as a plain user; with it a user who is no longer an admin
  gets nothing more;
- ``ssh``: open SSH tunnels into the workspaces the user may see (``tidepool ssh``). Not given
  unless asked for: a token that reads or starts workspaces is not a shell in them.

A person (a browser session, root on the host) holds every scope their user has.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from tidepool.domain.names import validate_workspace_name
from tidepool.errors import ForbiddenError, InvalidInputError

#: The owner of everything when authentication is off, and the host's own identity.
LOCAL_OWNER = "local"
#: A token limited to named workspaces names at most this many (it is a short allow-list).
MAX_TOKEN_WORKSPACES = 20


class Scope(enum.StrEnum):
    """What a credential lets its user do (see the module's docstring)."""

    READ = "read"
    WORKSPACES = "workspaces"
    ADMIN = "admin"
    SSH = "ssh"
    METRICS = "metrics"


EVERY_SCOPE = frozenset(Scope)
#: What a token from before scopes holds: what there was then. It is never given a power
#: added since (a token that could start workspaces does not become a shell in them).
LEGACY_SCOPES = frozenset({Scope.READ, Scope.WORKSPACES, Scope.ADMIN})
#: What a token is given when its creator names no scopes: a plain user's whole power.
DEFAULT_SCOPES = frozenset({Scope.READ, Scope.WORKSPACES})


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """The scopes named by ``values`` (``read`` always among them), or ``InvalidInputError``
    naming the known ones."""
    known = {scope.value: scope for scope in Scope}
    scopes = {Scope.READ}
    for value in values:
        if value not in known:
            raise InvalidInputError(
                f"Unknown token scope {value!r}; the scopes are {', '.join(known)}."
            )
        scopes.add(known[value])
    return frozenset(scopes)


def parse_workspace_limit(names: Iterable[str] | None) -> frozenset[str] | None:
    """The workspaces a token is limited to (each a valid name), or None for no limit. An
    empty list is refused: a token that may see nothing is a mistake, not a limit."""
    if names is None:
        return None
    limit = frozenset(validate_workspace_name(name) for name in names)
    if not limit:
        raise InvalidInputError("Name at least one workspace, or leave the token unlimited.")
    if len(limit) > MAX_TOKEN_WORKSPACES:
        raise InvalidInputError(
            f"A token may be limited to at most {MAX_TOKEN_WORKSPACES} workspaces."
        )
    return limit


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is from, and what the credential it came with allows.

    ``admin`` is the admin power in effect (an admin user whose credential carries the
    ``admin`` scope); build token identities with ``acting`` so the two cannot disagree.
    """

    name: str
    admin: bool
    #: The CSRF token of the browser session the request came with ("" otherwise).
    csrf_token: str = ""
    scopes: frozenset[Scope] = EVERY_SCOPE
    #: The only workspaces this credential may see, by name; None for no limit.
    workspaces: frozenset[str] | None = None
    #: The id of the API token the request came with ("" for a person or the host).
    token_id: str = ""
    #: Where the request came from (for the audit log): the client address Caddy saw.
    address: str = ""

    @classmethod
    def acting(
        cls,
        name: str,
        *,
        user_is_admin: bool,
        scopes: frozenset[Scope] = EVERY_SCOPE,
        workspaces: frozenset[str] | None = None,
        token_id: str = "",
        csrf_token: str = "",
        address: str = "",
    ) -> Identity:
        """The identity of ``name`` acting through a credential with ``scopes``: admin only
        when both the user and the credential are; ``admin`` is dropped from the scopes of
        anyone else, so what ``/api/me`` shows is what is in effect."""
        admin = user_is_admin and Scope.ADMIN in scopes
        # A person's session holds every scope of its user; ``metrics`` is a scraper's token
        # scope, in effect on a session only as part of admin power.
        withheld = set() if admin else {Scope.ADMIN} | (set() if token_id else {Scope.METRICS})
        return cls(
            name,
            admin=admin,
            csrf_token=csrf_token,
            scopes=scopes - withheld,
            workspaces=workspaces,
            token_id=token_id,
            address=address,
        )

    def may_see(self, owner: str, name: str) -> bool:
        """Admins see every workspace, everyone else only their own; a token limited to
        named workspaces sees only those (an admin's too)."""
        if self.workspaces is not None and name not in self.workspaces:
            return False
        return self.admin or owner == self.name

    @property
    def owner_filter(self) -> str | None:
        """The owner a list is limited to by ``may_see``: None (everyone's) for an admin."""
        return None if self.admin else self.name

    @property
    def credential(self) -> str:
        """How this identity is named in refusals: the token's limits are its own."""
        return "This token" if self.token_id else "You"

    def check_may_change(self, verb: str, name: str) -> None:
        """Refuse (``ForbiddenError``) to ``verb`` workspace ``name`` (already known to be
        visible, or a name to create) unless the credential allows changes to it."""
        if Scope.WORKSPACES not in self.scopes:
            raise ForbiddenError(
                f"{self.credential} may only read; it cannot {verb} workspaces "
                "(it lacks the 'workspaces' scope)."
            )
        if self.workspaces is not None and name not in self.workspaces:
            raise ForbiddenError(
                f"This token is limited to the workspaces {', '.join(sorted(self.workspaces))};"
                f" it cannot {verb} {name!r}."
            )

    def check_admin(self, what: str) -> None:
        """Refuse (``ForbiddenError``) what only an admin may do."""
        if not self.admin:
            if self.token_id:
                raise ForbiddenError(f"Only an admin's token with the 'admin' scope may {what}.")
            raise ForbiddenError(f"Only an admin may {what}.")

    def check_may_grant(self, user: str, scopes: frozenset[Scope], user_is_admin: bool) -> None:
        """Refuse (``ForbiddenError``) to mint a token for ``user`` with ``scopes``: tokens
        are minted by a person (a session, root on the host), never by another token; for
        oneself, or by an admin for anyone; and ``admin`` only by an admin, for an admin."""
        if self.token_id:
            raise ForbiddenError(
                "Tokens are created and revoked by a signed-in person, not by another token."
            )
        if user != self.name:
            self.check_admin("create tokens for other users")
        if Scope.METRICS in scopes:
            self.check_admin("create tokens with the 'metrics' scope")
        if Scope.ADMIN in scopes:
            self.check_admin("create tokens with the 'admin' scope")
            if not user_is_admin:
                raise ForbiddenError(
                    f"{user!r} is not an admin: a token of theirs cannot have the 'admin' scope."
                )

    def check_may_ssh(self, name: str) -> None:
        """Refuse (``ForbiddenError``) an SSH tunnel into workspace ``name`` (already known to
        be visible) unless the credential carries the ``ssh`` scope and is not limited away
        from it."""
        if Scope.SSH not in self.scopes:
            raise ForbiddenError(
                f"{self.credential} cannot open SSH tunnels (it lacks the 'ssh' scope): "
                "create a token with --scope ssh."
            )
        if self.workspaces is not None and name not in self.workspaces:
            raise ForbiddenError(f"This token is limited to other workspaces than {name!r}.")

    def check_may_read_metrics(self) -> None:
        """Refuse (``ForbiddenError``) the platform's metrics: for admins, and for tokens
        with the ``metrics`` scope (a scraper's; an admin made it)."""
        if not self.admin and not (self.token_id and Scope.METRICS in self.scopes):
            raise ForbiddenError(
                f"{self.credential} cannot read the metrics: that takes an admin, or a token "
                "with the 'metrics' scope (tidepool token create USER --scope metrics)."
            )

    def check_may_manage_keys(self) -> None:
        """Refuse (``ForbiddenError``) to add or remove SSH keys: a key opens every workspace
        of its user, so a read-only token, or one limited to named workspaces, may not."""
        self.check_acts_for_every_workspace("add or remove SSH keys")

    def check_acts_for_every_workspace(self, what: str) -> None:
        """Refuse (``ForbiddenError``) ``what`` (a change to all of the user's workspaces)
        to a read-only token, or one limited to named workspaces."""
        if Scope.WORKSPACES not in self.scopes or self.workspaces is not None:
            raise ForbiddenError(
                f"{self.credential} cannot {what}: that takes a signed-in person, or a "
                "token with the 'workspaces' scope and no workspace limit."
            )

    def check_may_revoke(self) -> None:
        if self.token_id:
            raise ForbiddenError(
                "Tokens are created and revoked by a signed-in person, not by another token."
            )

    def may_manage_tokens_of(self, user: str) -> bool:
        """One's own tokens, or anyone's for an admin (others' answer as missing ones)."""
        return self.admin or user == self.name


#: The host acting on its own behalf (root on the host: the socket, the by-hand commands).
HOST = Identity(LOCAL_OWNER, admin=True, address="host")
