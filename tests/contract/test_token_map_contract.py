"""One suite over the in-memory token map and the real one in Caddy (``CaddyTokenMap``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from support.caddy import private_caddy
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import base_config
from tidepool.adapters.caddy.sessions import CaddyTokenMap
from tidepool.adapters.fakes.sessions import InMemoryTokenMap
from tidepool.auth.token_cache import TokenCache

ANNS = "Bearer tpt_0123456789ab_" + "a" * 43
BOBS = "Bearer tpt_ba9876543210_" + "b" * 43


@pytest.fixture(params=["memory", pytest.param("caddy", marks=pytest.mark.caddy)])
async def cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TokenCache]:
    if request.param == "memory":
        yield InMemoryTokenMap()
        return
    directory = tmp_path_factory.mktemp("tokens-contract")
    async with private_caddy(directory) as (caddy, _):
        options = dataclasses.replace(
            caddy.options, forward_auth=True, api_socket=directory / "api.sock"
        )
        admin = CaddyAdmin.over_unix_socket(options.admin_socket)
        await admin.load(base_config(options))
        yield CaddyTokenMap(admin)
        await admin.aclose()


async def test_remembers_tokens_by_id_once(cache: TokenCache) -> None:
    assert await cache.known() == set()
    await cache.remember("0123456789ab", ANNS, "ann")
    await cache.remember("0123456789ab", ANNS, "ann")
    await cache.remember("ba9876543210", BOBS, "bob")
    assert await cache.known() == {"0123456789ab", "ba9876543210"}


async def test_forgets_by_id_and_a_missing_one_quietly(cache: TokenCache) -> None:
    await cache.remember("0123456789ab", ANNS, "ann")
    await cache.forget("0123456789ab")
    await cache.forget("ffffffffffff")
    assert await cache.known() == set()


async def test_tokens_taught_at_once_all_land(cache: TokenCache) -> None:
    """Each first request of a script teaches its token after its answer, so several changes
    of the proxy's config arrive together; a change refused or cut meanwhile is made again."""
    ids = [f"{n:012x}" for n in range(12)]
    await asyncio.gather(
        *(cache.remember(i, f"Bearer tpt_{i}_" + "c" * 43, "ann") for i in ids),
        *(cache.remember(i, f"Bearer tpt_{i}_" + "c" * 43, "ann") for i in ids[:4]),
    )
    assert await cache.known() == set(ids)
