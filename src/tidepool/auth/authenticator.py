"""Who a request is from, when the control plane checks credentials itself (``forward_auth``).

A request proves who it is with a session cookie (the web app, the browser) or a bearer API
token (scripts, the CLI). Either one is only good while its user still exists in the users
file: removing a user ends their sessions and tokens at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import Session, SessionStore
from tidepool.auth.tokens import ApiToken, TokenStore
from tidepool.auth.users import UserFile
from tidepool.errors import TidepoolError


class SignInRefusedError(TidepoolError):
    """A wrong user name or password, or too many of them: nothing says which part was wrong."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    #: The browser session the request came with; None for an API token (no CSRF needed).
    session: Session | None
    #: The API token the request came with, whose scopes limit what it may do.
    token: ApiToken | None = None


@dataclass
class Authenticator:
    users: UserFile
    sessions: SessionStore
    tokens: TokenStore
    limiter: SignInLimiter

    def identify(self, cookie: str | None, authorization: str | None) -> Principal | None:
        """The principal behind these credentials, or None. A request that presents a bearer
        token is judged by it alone: a bad token is not rescued by a cookie."""
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            token = self.tokens.find(value.strip()) if scheme.lower() == "bearer" else None
            principal = Principal(token.user, None, token) if token is not None else None
        else:
            session = self.sessions.find(cookie) if cookie else None
            principal = Principal(session.user, session) if session is not None else None
        if principal is None or not self.users.exists(principal.user):
            return None
        return principal

    async def sign_in(self, name: str, password: str, client: str) -> tuple[str, Session]:
        """A new session for ``name`` if ``password`` is theirs; refused without checking
        while that name has failed too often lately from ``client``'s address, or that
        address too often for any name (see ``SignInLimiter``): failures from elsewhere never
        keep a user out."""
        wait = self.limiter.retry_after(name, client)
        if wait > 0:
            raise SignInRefusedError(
                f"Too many failed sign-ins; try again in {int(wait) + 1} seconds.", wait
            )
        user = await asyncio.to_thread(self.users.check_password, name, password)
        if user is None:
            self.limiter.failed(name, client)
            raise SignInRefusedError("Wrong user name or password.")
        self.limiter.succeeded(name, client)
        return self.sessions.create(user.name)
