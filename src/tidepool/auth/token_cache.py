"""API tokens the proxy admits without asking the control plane (Caddy's token map).

``verify`` teaches the proxy each token it vouched for, under the ``Authorization`` header
exactly as it came, so a script's or a tunnel's next request through Caddy costs no round
trip. The cache never outlives the token's right: a revocation through the API makes the
proxy forget it as soon as the answer is sent, and ``sweep_tokens`` (every
``TOKEN_SWEEP_SECONDS`` while ``serve`` runs) drops every token revoked by root's CLI, expired,
or whose user was removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from tidepool.auth.tokens import TokenStore

#: The longest a token the CLI revoked, or one that expired, is still admitted by the proxy.
TOKEN_SWEEP_SECONDS = 2.0
#: The only header form the proxy's map is asked for (``config.tokens``: ``Bearer *``).
BEARER = "Bearer "

_after_answers: set[asyncio.Task[None]] = set()


class TokenCache(Protocol):
    """Where the proxy keeps the tokens it may admit without asking (Caddy's token map)."""

    async def remember(self, name: str, credential: str, user: str) -> None:
        """Admit ``credential`` (the whole header) as ``user``, under the token's id."""

    async def forget(self, name: str) -> None:
        """Stop admitting the token with this id."""

    async def known(self) -> set[str]:
        """The ids of the tokens held."""


def after_answer(change: Coroutine[Any, Any, None]) -> None:
    """Run a change of Caddy's config after this answer is sent: Caddy applies a change only
    once the requests it is serving are done, this one's own among them."""
    task = asyncio.create_task(change)
    _after_answers.add(task)
    task.add_done_callback(_after_answers.discard)


def teach_token(cache: TokenCache, token_id: str, authorization: str, user: str) -> None:
    """Admit this token from now on, if it came in the form the proxy looks up."""
    if authorization.startswith(BEARER):
        after_answer(cache.remember(token_id, authorization, user))


async def sweep_tokens(store: TokenStore, cache: TokenCache, live_users: frozenset[str]) -> int:
    """Make the proxy forget every token that is no longer good; returns how many."""
    live = {token.id for token in store.live() if token.user in live_users}
    stale = await cache.known() - live
    for token_id in stale:
        await cache.forget(token_id)
    return len(stale)
