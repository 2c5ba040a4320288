"""Who is asking: the identity every use case is decided for.

The API builds one from what Caddy vouched for (a session, a token, a basic-auth user), the
CLI over the host's unix socket and the by-hand commands act as the host itself. Which
workspaces an identity may see and act on is decided here, once, for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The owner of everything when authentication is off, and the host's own identity.
LOCAL_OWNER = "local"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is from."""

    name: str
    admin: bool
    #: The CSRF token of the browser session the request came with ("" otherwise).
    csrf_token: str = ""

    def may_see(self, owner: str) -> bool:
        """Admins see every workspace; everyone else only their own."""
        return self.admin or owner == self.name

    @property
    def owner_filter(self) -> str | None:
        """The owner a list is limited to by ``may_see``: None (everyone's) for an admin."""
        return None if self.admin else self.name


#: The host acting on its own behalf (root on the host: the socket, the by-hand commands).
HOST = Identity(LOCAL_OWNER, admin=True)
