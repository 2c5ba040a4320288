"""``forward_auth`` in the control plane: sessions, tokens, CSRF, rate limits, the verify call.

The API runs through an ASGI transport with the in-memory store and the in-memory stand-in
for Caddy's session map; requests carry Caddy's ``X-Tidepool-Via`` mark as they would through
Caddy (the integration suite does the same through a real Caddy).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.users import write_users
from tidepool.adapters.fakes.sessions import InMemorySessionMap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.destinations import Site, safe_destination
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import (
    MAX_SESSIONS_PER_USER,
    SESSION_COOKIE,
    SessionStore,
    sweep_sessions,
)
from tidepool.auth.tokens import TOKEN_SHAPE, TokenStore
from tidepool.auth.users import UserFile
from tidepool.domain.origins import WorkspaceAddresses
from tidepool.edge import VIA_HEADER
from tidepool.errors import InvalidInputError
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "root": "root-password"}
VIA = {VIA_HEADER: "caddy"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    http: httpx.AsyncClient
    auth: Authenticator
    caddy: InMemorySessionMap
    clock: Clock
    users: UserFile


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = Clock()
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"root"}))
    auth = Authenticator(
        users=users,
        sessions=SessionStore(tmp_path / "sessions.json", 3600, clock),
        tokens=TokenStore(tmp_path / "tokens.json", clock),
        limiter=SignInLimiter(max_failures=3, window_seconds=60, clock=clock),
    )
    caddy = InMemorySessionMap()
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tidepool.test",
        event_poll=0.01,
        admins=users.admins,
        authenticator=auth,
        session_cache=caddy,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=VIA) as http:
        yield Setup(http, auth, caddy, clock, users)


async def sign_in(http: httpx.AsyncClient, name: str) -> str:
    """Sign in; returns the session's CSRF token (the cookie stays in the client)."""
    response = await http.post("/api/auth/login", json={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


# --- the stores ---------------------------------------------------------------------------


def test_a_session_is_stored_as_a_hash_and_ends_when_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    sessions = SessionStore(tmp_path / "sessions.json", 60, clock)
    token, session = sessions.create("ann")
    assert token not in (tmp_path / "sessions.json").read_text()
    assert sessions.find(token) == session
    assert sessions.find(token + "x") is None and sessions.find("") is None
    clock.now += 61
    assert sessions.find(token) is None
    assert sessions.prune(frozenset({"ann"})) == [session.key]
    assert sessions.live_keys() == set()


def test_sessions_of_a_removed_user_are_pruned(tmp_path: Path) -> None:
    sessions = SessionStore(tmp_path / "sessions.json")
    _, ann = sessions.create("ann")
    _, bob = sessions.create("bob")
    assert sessions.prune(frozenset({"bob"})) == [ann.key]
    assert sessions.live_keys() == {bob.key}


def test_a_token_is_stored_as_a_hash_and_refused_once_revoked_or_expired(tmp_path: Path) -> None:
    clock = Clock()
    tokens = TokenStore(tmp_path / "tokens.json", clock)
    forever, kept = tokens.create("ann", "ci")
    brief, short = tokens.create("ann", days=1)
    stored = (tmp_path / "tokens.json").read_text()
    for token in (forever, brief):
        shape = TOKEN_SHAPE.fullmatch(token)
        assert shape is not None and shape.group(2) not in stored
    assert tokens.find(forever) == kept and tokens.find(brief) == short
    wrong_secret = forever[:-4] + ("AAAA" if not forever.endswith("AAAA") else "BBBB")
    assert tokens.find(wrong_secret) is None
    assert tokens.find("tpt_nonsense") is None and tokens.find("") is None
    clock.now += 86401
    assert tokens.find(brief) is None
    tokens.revoke(kept.id)
    assert tokens.find(forever) is None
    assert [t.revoked for t in tokens.list("ann")] == [True, False]


def test_a_token_label_and_lifetime_are_validated(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(InvalidInputError):
        tokens.create("ann", "$(rm -rf /)")
    with pytest.raises(InvalidInputError):
        tokens.create("ann", days=-1)
    assert tokens.list() == []


def test_the_limiter_locks_a_name_and_address_out_for_the_rest_of_its_window() -> None:
    clock = Clock()
    limiter = SignInLimiter(max_failures=2, window_seconds=60, clock=clock)
    limiter.failed("ann", "192.0.2.1")
    assert limiter.retry_after("ann", "192.0.2.1") == 0
    clock.now += 10
    limiter.failed("ann", "192.0.2.1")
    assert limiter.retry_after("ann", "192.0.2.1") == pytest.approx(50)
    assert limiter.retry_after("ann", "192.0.2.2") == 0
    assert limiter.retry_after("bob", "192.0.2.1") == 0
    clock.now += 51
    assert limiter.retry_after("ann", "192.0.2.1") == 0


# --- signing in ---------------------------------------------------------------------------


async def test_signing_in_sets_a_locked_down_session_cookie(setup: Setup) -> None:
    response = await setup.http.post(
        "/api/auth/login", json={"name": "ann", "password": PASSWORDS["ann"]}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    me = (await setup.http.get("/api/me")).json()
    assert me == {
        "name": "ann",
        "admin": False,
        "csrf_token": response.json()["csrf_token"],
        "can_sign_out": True,
        "scopes": ["read", "ssh", "workspaces"],
    }


async def test_the_cookie_is_secure_under_tls(tmp_path: Path, setup: Setup) -> None:
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "https://tidepool.test",
        authenticator=setup.auth,
        secure_cookies=True,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="https://t", headers=VIA) as http:
        response = await http.post(
            "/api/auth/login", json={"name": "ann", "password": PASSWORDS["ann"]}
        )
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("name", "password"), [("ann", "not-her-password"), ("nobody", "whatever-it-is")]
)
async def test_a_wrong_name_or_password_gets_the_same_401_and_no_cookie(
    setup: Setup, name: str, password: str
) -> None:
    response = await setup.http.post("/api/auth/login", json={"name": name, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong user name or password."
    assert "set-cookie" not in response.headers
    assert setup.auth.sessions.live_keys() == set()


async def test_failed_sign_ins_are_rate_limited_even_for_the_right_password(setup: Setup) -> None:
    for _ in range(3):
        wrong = {"name": "ann", "password": "guess-guess"}
        assert (await setup.http.post("/api/auth/login", json=wrong)).status_code == 401
    right = {"name": "ann", "password": PASSWORDS["ann"]}
    locked = await setup.http.post("/api/auth/login", json=right)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 61
    assert "set-cookie" not in locked.headers
    setup.clock.now += 61
    assert (await setup.http.post("/api/auth/login", json=right)).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "name=ann&password=ann-password"),
        ("text/plain", '{"name": "ann", "password": "ann-password"}'),
    ],
)
async def test_another_sites_form_cannot_sign_anyone_in(
    setup: Setup, content_type: str, body: str
) -> None:
    response = await setup.http.post(
        "/api/auth/login", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    assert "set-cookie" not in response.headers


async def test_passwords_and_tokens_never_reach_the_logs(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await setup.http.post("/api/auth/login", json={"name": "ann", "password": "wrong-password"})
    await sign_in(setup.http, "ann")
    token, _ = setup.auth.tokens.create("ann")
    await setup.http.get("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
    await asyncio.sleep(0)
    logged = caplog.text
    assert "wrong-password" not in logged and PASSWORDS["ann"] not in logged
    assert token not in logged
    cookie = setup.http.cookies[SESSION_COOKIE]
    assert cookie not in logged


# --- using a session or a token -----------------------------------------------------------


async def test_without_credentials_the_api_refuses_and_the_app_sends_to_sign_in(
    setup: Setup,
) -> None:
    assert (await setup.http.get("/api/workspaces")).status_code == 401
    assert (await setup.http.post("/api/workspaces", json={"name": "x"})).status_code == 401
    page = await setup.http.get("/app/")
    assert page.status_code == 302
    assert page.headers["location"] == "/app/login/?next=/app/"
    login = await setup.http.get("/app/login/")
    assert login.status_code == 200 and "Sign in" in login.text
    assert (await setup.http.get("/app/app.css")).status_code == 200


async def test_a_forged_cookie_is_refused(setup: Setup) -> None:
    setup.http.cookies.set(SESSION_COOKIE, "forged-" + "A" * 36)
    assert (await setup.http.get("/api/workspaces")).status_code == 401
    assert (await setup.http.get("/app/")).status_code == 302


async def test_a_cookie_session_changes_things_only_with_its_csrf_token(setup: Setup) -> None:
    csrf = await sign_in(setup.http, "ann")
    assert (await setup.http.get("/api/workspaces")).status_code == 200
    assert (await setup.http.get("/app/")).status_code == 200
    missing = await setup.http.post("/api/workspaces", json={"name": "anns"})
    wrong = await setup.http.post(
        "/api/workspaces",
        json={"name": "anns"},
        headers={"X-CSRF-Token": csrf[:-1] + ("x" if csrf[-1] != "x" else "y")},
    )
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "X-CSRF-Token" in missing.json()["detail"]
    assert (await setup.http.get("/api/workspaces")).json()["total"] == 0
    made = await setup.http.post(
        "/api/workspaces", json={"name": "anns"}, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 202 and made.json()["owner"] == "ann"


async def test_a_token_needs_no_csrf_and_a_bad_one_is_not_rescued_by_a_cookie(
    setup: Setup,
) -> None:
    token, record = setup.auth.tokens.create("bob")
    bearer = {"Authorization": f"Bearer {token}"}
    made = await setup.http.post("/api/workspaces", json={"name": "bobs"}, headers=bearer)
    assert made.status_code == 202 and made.json()["owner"] == "bob"
    await sign_in(setup.http, "ann")
    setup.auth.tokens.revoke(record.id)
    assert (await setup.http.get("/api/workspaces", headers=bearer)).status_code == 401
    assert (await setup.http.get("/api/workspaces")).status_code == 200


async def test_an_expired_token_is_refused(setup: Setup) -> None:
    token, _ = setup.auth.tokens.create("bob", days=1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await setup.http.get("/api/me", headers=bearer)).json()["name"] == "bob"
    setup.clock.now += 86401
    assert (await setup.http.get("/api/me", headers=bearer)).status_code == 401


async def test_removing_a_user_ends_their_sessions_and_tokens(setup: Setup) -> None:
    await sign_in(setup.http, "ann")
    token, _ = setup.auth.tokens.create("ann")
    data = json.loads(setup.users.path.read_text())
    data["users"] = [u for u in data["users"] if u["name"] != "ann"]
    setup.users.path.write_text(json.dumps(data, indent=2))
    assert (await setup.http.get("/api/me")).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await setup.http.get("/api/me", headers=bearer)).status_code == 401


async def test_user_b_gets_404_on_user_as_workspace_and_its_events(setup: Setup) -> None:
    ann_token, _ = setup.auth.tokens.create("ann")
    bob_token, _ = setup.auth.tokens.create("bob")
    ann = {"Authorization": f"Bearer {ann_token}"}
    bob = {"Authorization": f"Bearer {bob_token}"}
    assert (await setup.http.post("/api/workspaces", json={"name": "anns"}, headers=ann)).is_success
    for path in ["/api/workspaces/anns", "/api/workspaces/anns/events"]:
        assert (await setup.http.get(path, headers=bob)).status_code == 404
    assert (await setup.http.post("/api/workspaces/anns/stop", headers=bob)).status_code == 404


async def test_the_host_socket_without_the_caddy_mark_is_the_host_admin(setup: Setup) -> None:
    response = await setup.http.get("/api/me", headers={VIA_HEADER: ""})
    setup.http.headers.pop(VIA_HEADER)
    local = await setup.http.get("/api/me")
    assert response.status_code == 401
    assert local.json() == {
        "name": "local",
        "admin": True,
        "scopes": ["admin", "metrics", "read", "ssh", "workspaces"],
    }


# --- Caddy's questions and its session map ------------------------------------------------


async def test_verify_names_the_user_and_teaches_caddy_the_session(setup: Setup) -> None:
    await sign_in(setup.http, "ann")
    answer = await setup.http.get(
        "/api/auth/verify", headers={"X-Forwarded-Uri": "/workspace/anns/"}
    )
    assert answer.status_code == 204
    assert answer.headers["x-tidepool-user"] == "ann"
    await asyncio.sleep(0.01)
    assert setup.caddy.user_for(setup.http.cookies[SESSION_COOKIE]) == "ann"


async def test_verify_teaches_caddy_nothing_for_a_token(setup: Setup) -> None:
    token, _ = setup.auth.tokens.create("bob")
    answer = await setup.http.get("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
    await asyncio.sleep(0.01)
    assert answer.headers["x-tidepool-user"] == "bob"
    assert setup.caddy.entries == {}


async def test_verify_sends_a_browser_to_sign_in_and_refuses_anything_else(setup: Setup) -> None:
    page = await setup.http.get(
        "/api/auth/verify",
        headers={"Accept": "text/html", "X-Forwarded-Uri": "/workspace/anns/?folder=/home"},
    )
    assert page.status_code == 302
    assert page.headers["location"] == "/app/login/?next=%2Fworkspace%2Fanns%2F%3Ffolder%3D%2Fhome"
    script = await setup.http.get("/api/auth/verify", headers={"Accept": "application/json"})
    post = await setup.http.get(
        "/api/auth/verify", headers={"Accept": "text/html", "X-Forwarded-Method": "POST"}
    )
    assert script.status_code == 401 and post.status_code == 401
    assert "x-tidepool-user" not in script.headers


async def test_signing_out_ends_the_session_here_and_in_caddy(setup: Setup) -> None:
    csrf = await sign_in(setup.http, "ann")
    cookie = setup.http.cookies[SESSION_COOKIE]
    await setup.http.get("/api/auth/verify")
    await asyncio.sleep(0.01)
    assert setup.caddy.user_for(cookie) == "ann"
    assert (await setup.http.post("/api/auth/logout")).status_code == 403
    out = await setup.http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert setup.caddy.user_for(cookie) is None
    setup.http.cookies.set(SESSION_COOKIE, cookie)
    assert (await setup.http.get("/api/me")).status_code == 401


async def test_the_sweep_drops_ended_sessions_from_caddy(setup: Setup) -> None:
    await sign_in(setup.http, "ann")
    await setup.http.get("/api/auth/verify")
    await asyncio.sleep(0.01)
    assert len(setup.caddy.entries) == 1
    live = setup.users.names()
    assert await sweep_sessions(setup.auth.sessions, setup.caddy, live) == 0
    setup.clock.now += 3601
    assert await sweep_sessions(setup.auth.sessions, setup.caddy, live) == 1
    assert setup.caddy.entries == {} and setup.auth.sessions.live_keys() == set()


async def test_sign_in_routes_are_404_when_sign_in_is_off() -> None:
    store = memory_store()[0]
    plane = ControlPlane(WorkspaceService(store, default_image="img"), store, "http://t")
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/api/auth/login", json={"name": "a", "password": "b"})
        verify = await http.get("/api/auth/verify")
    assert response.status_code == 404 and verify.status_code == 404


# --- where sign-in may send the browser ---------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "allowed"),
    [
        ("/workspace/anns/?folder=/home/dev", "/workspace/anns/?folder=/home/dev"),
        ("http://anns.ws.example.test:8080/x?y=1", "http://anns.ws.example.test:8080/x?y=1"),
        ("//8081--anns.ws.example.test:8080/", "/app/"),  # the page's scheme would decide
        ("http://8081--bobs.ws.example.test:8080/", "/app/"),
        ("https://anns.ws.example.test:8080/", "/app/"),  # another scheme: another origin
        ("http://anns.ws.example.test:9999/", "/app/"),  # another port: another origin
        ("http://9999--anns.ws.example.test:8080/", "/app/"),  # a port not forwarded
        ("/\t/evil.test/", "/app/"),
        ("//evil.test/", "/app/"),
        ("/\\evil.test/", "/app/"),
        ("https://evil.test/", "/app/"),
        ("http://anns.ws.example.test.evil.test:8080/", "/app/"),
        ("javascript:alert(1)", "/app/"),
        ("", "/app/"),
    ],
)
async def test_sign_in_sends_the_browser_only_to_pages_of_this_tidepool(
    asked: str, allowed: str
) -> None:
    """The full table of tricks is in ``tests/security/test_sign_in_redirects.py``."""

    async def anns_only(workspace: str) -> bool:
        return workspace == "anns"

    addresses = WorkspaceAddresses(
        "http://example.test:8080", "ws.example.test", forward_ports=(8081,)
    )
    site = Site(frozenset({"example.test:8080"}), addresses)
    assert await safe_destination(asked, site, anns_only) == allowed


def test_signing_in_again_and_again_ends_the_oldest_sessions(tmp_path: Path) -> None:
    clock = Clock()
    sessions = SessionStore(tmp_path / "sessions.json", 60, clock)
    tokens = []
    for _ in range(MAX_SESSIONS_PER_USER + 2):
        clock.now += 1
        tokens.append(sessions.create("ann")[0])
    _, bobs = sessions.create("bob")
    assert [sessions.find(t) is not None for t in tokens] == [False] * 2 + [True] * (
        MAX_SESSIONS_PER_USER
    )
    assert bobs.key in sessions.live_keys()
