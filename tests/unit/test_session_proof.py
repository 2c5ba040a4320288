"""A session cookie a workspace's page planted is never taken for the browser's own.

Bob's page sets his own valid session for the parent domain; admin alice's browser then sends
both to the API, bob's first. The API runs through an ASGI transport with the in-memory store,
each request carrying Caddy's mark as it would through Caddy; the Chromium test in the real
host's shape is ``tests/security/test_planted_cookies.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from support.users import write_users
from tidepool.adapters.fakes.sessions import InMemorySessionMap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.session_proof import cookie_values, cookies_can_be_planted
from tidepool.auth.sessions import SESSION_COOKIE, Session, SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.edge import VIA_HEADER
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


def test_cookies_can_be_planted_over_plain_http_on_any_name() -> None:
    assert cookies_can_be_planted("http://tp.test:8080", tls=False)
    assert cookies_can_be_planted("http://localhost:8080", tls=False)
    assert not cookies_can_be_planted("http://127.0.0.1:8080", tls=False)
    assert not cookies_can_be_planted("http://[::1]:8080", tls=False)
    assert not cookies_can_be_planted("https://tp.test", tls=True)


def test_every_value_of_a_cookie_is_seen_in_the_order_sent() -> None:
    header = f'{SESSION_COOKIE}=bobs; other=1; {SESSION_COOKIE}="alices";x{SESSION_COOKIE}=no'
    assert cookie_values(header, SESSION_COOKIE) == ["bobs", "alices"]
    assert cookie_values(f"{SESSION_COOKIE}=; a=b", SESSION_COOKIE) == []


@asynccontextmanager
async def api(
    tmp_path: Path, *, need_proof: bool
) -> AsyncIterator[tuple[httpx.AsyncClient, Authenticator]]:
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"alice"}))
    auth = Authenticator(
        users=users,
        sessions=SessionStore(tmp_path / "sessions.json", 3600),
        tokens=TokenStore(tmp_path / "tokens.json"),
        limiter=SignInLimiter(max_failures=3, window_seconds=60),
    )
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tp.test:8080",
        admins=users.admins,
        authenticator=auth,
        session_cache=InMemorySessionMap(),
        cookies_need_proof=need_proof,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    via = {VIA_HEADER: "caddy"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=via) as http:
        yield http, auth


def cookies(*tokens: str) -> str:
    return "; ".join(f"{SESSION_COOKIE}={token}" for token in tokens)


async def who(http: httpx.AsyncClient, cookie: str, proof: str | None = None) -> str | int:
    """The user ``/api/me`` names for these cookies and this proof, or the refusal's status."""
    headers = {"Cookie": cookie, **({"X-CSRF-Token": proof} if proof is not None else {})}
    answer = await http.get("/api/me", headers=headers)
    return str(answer.json()["name"]) if answer.status_code == 200 else answer.status_code


def signed_in(auth: Authenticator, name: str) -> tuple[str, Session]:
    return auth.sessions.create(name)


async def test_where_cookies_can_be_planted_only_the_proofs_session_counts(
    tmp_path: Path,
) -> None:
    async with api(tmp_path, need_proof=True) as (http, auth):
        alices, alice = signed_in(auth, "alice")
        bobs, bob = signed_in(auth, "bob")
        # Bob's planted cookie comes first (its path is longer): alice's proof picks hers.
        assert await who(http, cookies(bobs, alices), alice.csrf_token) == "alice"
        assert await who(http, cookies(alices, bobs), alice.csrf_token) == "alice"
        # Without a proof, or signed out (only bob's cookie left), she is no one, never bob.
        assert await who(http, cookies(bobs, alices)) == 401
        assert await who(http, cookies(bobs), alice.csrf_token) == 401
        assert await who(http, cookies(bobs)) == 401
        # An event stream's proof rides in the query (an EventSource sends no headers).
        query = await http.get(
            "/api/me", params={"csrf_token": alice.csrf_token}, headers={"Cookie": cookies(bobs)}
        )
        assert query.status_code == 401
        query = await http.get(
            "/api/me",
            params={"csrf_token": alice.csrf_token},
            headers={"Cookie": cookies(bobs, alices)},
        )
        assert query.json()["name"] == "alice"
        # Bob in his own browser, with his own proof, is still bob.
        assert await who(http, cookies(bobs), bob.csrf_token) == "bob"


async def test_signing_out_ends_the_browsers_own_session_never_the_planted_one(
    tmp_path: Path,
) -> None:
    async with api(tmp_path, need_proof=True) as (http, auth):
        alices, alice = signed_in(auth, "alice")
        bobs, bob = signed_in(auth, "bob")
        both = {"Cookie": cookies(bobs, alices), "X-CSRF-Token": alice.csrf_token}
        assert (await http.post("/api/auth/logout", headers=both)).status_code == 204
        assert auth.sessions.find(alices) is None
        assert auth.sessions.find(bobs) == bob


@pytest.mark.parametrize("need_proof", [True, False])
async def test_a_change_with_a_planted_cookie_and_no_proof_changes_nothing(
    tmp_path: Path, need_proof: bool
) -> None:
    async with api(tmp_path, need_proof=need_proof) as (http, auth):
        bobs, _ = signed_in(auth, "bob")
        alices, _ = signed_in(auth, "alice")
        made = await http.post(
            "/api/workspaces", json={"name": "planted"}, headers={"Cookie": cookies(bobs, alices)}
        )
        assert made.status_code in (401, 403), made.text
        listed = await http.get("/api/workspaces", headers={"Cookie": cookies(alices)})
        if not need_proof:
            assert listed.json()["items"] == []


async def test_where_cookies_cannot_be_planted_one_cookie_counts_and_two_sessions_none(
    tmp_path: Path,
) -> None:
    async with api(tmp_path, need_proof=False) as (http, auth):
        alices, alice = signed_in(auth, "alice")
        bobs, _ = signed_in(auth, "bob")
        assert await who(http, cookies(alices)) == "alice"
        # A stale proof (an earlier sign-in's) does not lock the browser out of its cookie.
        assert await who(http, cookies(alices), "stale") == "alice"
        # Two different sessions are never guessed between; the proof still picks.
        assert await who(http, cookies(bobs, alices)) == 401
        assert await who(http, cookies(bobs, alices), alice.csrf_token) == "alice"
        # The same cookie twice is one session.
        assert await who(http, cookies(alices, alices)) == "alice"
