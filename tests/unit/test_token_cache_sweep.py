"""Which tokens the proxy stops admitting (``sweep_tokens``), and which header it learns."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tidepool.adapters.fakes.sessions import InMemoryTokenMap
from tidepool.auth.token_cache import sweep_tokens, teach_token
from tidepool.auth.tokens import TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_revoked_expired_and_removed_users_tokens_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    store = TokenStore(tmp_path / "tokens.json", clock=clock)
    cache = InMemoryTokenMap()
    made = {
        label: store.create(user, label=label, days=days)[1]
        for label, user, days in (
            ("kept", "ann", None),
            ("revoked", "ann", None),
            ("expiring", "ann", 1),
            ("removed", "bob", None),
        )
    }
    for token in made.values():
        await cache.remember(token.id, f"Bearer {token.id}", token.user)
    await cache.remember("0123456789ab", "Bearer stale", "ann")  # no longer in the store
    store.revoke(made["revoked"].id)
    clock.now += 86_400 + 1

    forgotten = await sweep_tokens(store, cache, frozenset({"ann"}))

    assert forgotten == 4
    assert await cache.known() == {made["kept"].id}


async def test_only_a_bearer_header_is_taught() -> None:
    cache = InMemoryTokenMap()
    teach_token(cache, "0123456789ab", "bearer tpt_x", "ann")
    teach_token(cache, "ba9876543210", "Bearer tpt_y", "ann")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.known() == {"ba9876543210"}
