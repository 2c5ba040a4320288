"""One suite over the in-memory session map and the real one in Caddy (``CaddySessionMap``)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator

import pytest

from support.caddy import private_caddy
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.config import base_config
from tidepool.adapters.caddy.sessions import CaddySessionMap
from tidepool.adapters.fakes.sessions import InMemorySessionMap
from tidepool.auth.sessions import SessionCache, session_key


@pytest.fixture(params=["memory", pytest.param("caddy", marks=pytest.mark.caddy)])
async def cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SessionCache]:
    if request.param == "memory":
        yield InMemorySessionMap()
        return
    directory = tmp_path_factory.mktemp("sessions-contract")
    async with private_caddy(directory) as (caddy, _):
        options = dataclasses.replace(
            caddy.options, forward_auth=True, api_socket=directory / "api.sock"
        )
        admin = CaddyAdmin.over_unix_socket(options.admin_socket)
        await admin.load(base_config(options))
        yield CaddySessionMap(admin)
        await admin.aclose()


def token(n: int) -> str:
    return hashlib.sha256(f"token-{n}".encode()).hexdigest()


async def test_remembers_sessions_by_key_prefix(cache: SessionCache) -> None:
    assert await cache.known() == set()
    await cache.remember(session_key(token(1)), token(1), "ann")
    await cache.remember(session_key(token(2)), token(2), "bob")
    assert await cache.known() == {session_key(token(n))[:32] for n in (1, 2)}


async def test_remembering_twice_keeps_one_entry(cache: SessionCache) -> None:
    await cache.remember(session_key(token(1)), token(1), "ann")
    await cache.remember(session_key(token(1)), token(1), "ann")
    assert len(await cache.known()) == 1


async def test_forgets_by_key_or_by_prefix_and_a_missing_one_quietly(cache: SessionCache) -> None:
    await cache.remember(session_key(token(1)), token(1), "ann")
    await cache.remember(session_key(token(2)), token(2), "bob")
    await cache.forget(session_key(token(1)))
    await cache.forget(session_key(token(2))[:32])
    await cache.forget(session_key(token(3)))
    assert await cache.known() == set()
