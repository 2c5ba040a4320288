"""``auth = "forward_auth"`` through a real Caddy and the real control-plane app.

Caddy, the API on its unix socket (uvicorn, the sessions and tokens files), and stand-in
workspaces on loopback: ann owns alpha (127.0.0.11), bob owns beta (127.0.0.12), root is an
admin. This is the security suite for sign-in: every way in that should fail, fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.browserlike import browserlike_client
from support.caddy import configured_caddy
from support.echo import echo_app, serving
from support.ports import free_port
from support.rawhttp import raw_get
from support.users import write_users
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.sessions import CaddySessionMap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.grants import GrantStore
from tidepool.auth.handshake import HandshakeCodes
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SESSION_COOKIE, SessionStore, sweep_sessions
from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile
from tidepool.client import ApiClient
from tidepool.domain.origins import WorkspaceAddresses
from tidepool.domain.workspace import Workspace
from tidepool.edge import GRANT_COOKIE
from tidepool.errors import InvalidInputError
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

pytestmark = pytest.mark.caddy
PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "root": "root-password"}
HTML = {"Accept": "text/html,application/xhtml+xml"}
DOMAIN = "example.test"
WORKSPACES = "ws.example.test"


@dataclass
class Edge:
    base: str
    auth: Authenticator
    sessions: CaddySessionMap
    users: UserFile


@contextlib.asynccontextmanager
async def signed_in_edge(directory: Path, workspace_domain: str = "") -> AsyncIterator[Edge]:
    users = write_users(directory / "users.json", PASSWORDS, frozenset({"root"}))
    auth = Authenticator(
        users,
        SessionStore(directory / "sessions.json"),
        TokenStore(directory / "tokens.json"),
        SignInLimiter(max_failures=3, window_seconds=60),
    )
    options = config.CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
        api_socket=directory / "api.sock",
        forward_auth=True,
        admins=("root",),
        workspace_domain=workspace_domain,
        serve_paths=not workspace_domain,
    )
    addresses = WorkspaceAddresses(f"http://{DOMAIN}:8080", workspace_domain, (8081,))
    store = memory_store()[0]
    await store.add(Workspace(name="alpha", owner="ann", image="img"))
    routes = {"alpha": "127.0.0.11", "beta": "127.0.0.12"}
    owners = {"alpha": "ann", "beta": "bob"}
    async with configured_caddy(directory, options, routes, owners) as admin:
        plane = ControlPlane(
            WorkspaceService(store, default_image="img"),
            store,
            f"http://{options.listen}",
            event_poll=0.01,
            admins=users.admins,
            authenticator=auth,
            session_cache=CaddySessionMap(admin),
            addresses=addresses if workspace_domain else None,
            grants=GrantStore(options.grants_dir) if workspace_domain else None,
            codes=HandshakeCodes() if workspace_domain else None,
        )
        async with (
            serving(create_app(plane), uds=str(options.api_socket)),
            serving(echo_app, host="127.0.0.11", port=options.workspace_port),
            serving(echo_app, host="127.0.0.11", port=8081),
            serving(echo_app, host="127.0.0.12", port=options.workspace_port),
        ):
            yield Edge(f"http://{options.listen}", auth, CaddySessionMap(admin), users)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    async with signed_in_edge(tmp_path) as running:
        yield running


def browser(edge: Edge, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client that, like a browser, sends a request again when Caddy closed its connection
    during a config change (teaching Caddy a session is one)."""
    return browserlike_client(base_url=edge.base, headers=headers)


async def sign_in(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post("/api/auth/login", json={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


async def caddy_knows(edge: Edge, token: str, present: bool = True) -> None:
    """Wait until Caddy's session map has (or has not) the session of ``token``."""
    prefix = edge.auth.sessions.find(token)
    key = prefix.key[:32] if prefix else ""
    for _ in range(200):
        if (key in await edge.sessions.known()) == present:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"Caddy's session map never {'learnt' if present else 'forgot'} it")


@pytest.mark.parametrize(
    "path",
    ["/app/", "/workspace/alpha/", "/workspace/nobody/", "/workspace/alpha/port/8081/"],
)
async def test_without_credentials_a_browser_is_sent_to_sign_in(edge: Edge, path: str) -> None:
    async with browser(edge) as http:
        response = await http.get(path, headers=HTML)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/app/login/?next=")
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize(
    "path", ["/api/workspaces", "/workspace/alpha/", "/workspace/alpha/port/8081/x"]
)
async def test_without_credentials_a_script_gets_401(edge: Edge, path: str) -> None:
    async with browser(edge) as http:
        response = await http.get(path)
    assert response.status_code == 401


async def test_the_sign_in_page_is_open_to_all(edge: Edge) -> None:
    async with browser(edge) as http:
        page = await http.get("/app/login/")
        script = await http.get("/app/login/login.js")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.text
    assert script.status_code == 200


async def test_after_sign_in_the_owner_gets_in_and_the_workspace_never_sees_the_session(
    edge: Edge,
) -> None:
    async with browser(edge) as http:
        await sign_in(http, "ann")
        http.cookies.set("theme", "dark")
        page = await http.get("/workspace/alpha/x?y=1")
        port = await http.get("/workspace/alpha/port/8081/z")
        app = await http.get("/app/")
    assert page.status_code == 200 and port.status_code == 200 and app.status_code == 200
    assert page.json()["path"] == "/x?y=1" and port.json()["path"] == "/z"
    for seen in (page.json(), port.json()):
        assert SESSION_COOKIE not in (seen["cookie"] or "")
        assert seen["cookie"] == "theme=dark"
        assert seen["authorization"] is None


async def test_caddy_answers_known_sessions_itself_until_the_sweep(edge: Edge) -> None:
    """After the first request Caddy admits the session from its own map (it no longer asks
    the control plane: ending the session only in the file does not stop it); the sweep
    removes it from Caddy too."""
    async with browser(edge) as http:
        await sign_in(http, "ann")
        token = http.cookies[SESSION_COOKIE]
        assert (await http.get("/workspace/alpha/")).status_code == 200
        await caddy_knows(edge, token)
        session = edge.auth.sessions.find(token)
        assert session is not None
        edge.auth.sessions.end(session.key)
        assert (await http.get("/workspace/alpha/")).status_code == 200
        assert await sweep_sessions(edge.auth.sessions, edge.sessions, edge.users.names()) == 1
        assert (await http.get("/workspace/alpha/")).status_code == 401


async def test_a_post_reaches_the_workspace_whole_after_caddy_asked(edge: Edge) -> None:
    async with browser(edge) as http:
        await sign_in(http, "ann")
        first = await http.post("/workspace/alpha/upload", content=b"x" * 100_000)
    assert first.status_code == 200
    assert first.json()["method"] == "POST"
    assert first.json()["body"] == "x" * 100_000


@pytest.mark.parametrize(
    "path", ["/workspace/alpha/", "/workspace/alpha/port/8081/", "/workspace/alpha"]
)
async def test_user_b_finds_user_as_workspace_missing(edge: Edge, path: str) -> None:
    async with browser(edge) as http:
        await sign_in(http, "bob")
        theirs = await http.get(path, follow_redirects=True)
        missing = await http.get("/workspace/nobody/")
        api = await http.get("/api/workspaces/alpha")
        events = await http.get("/api/workspaces/alpha/events")
        own = await http.get("/workspace/beta/")
    assert theirs.status_code == 404 and "No such workspace" in theirs.text
    assert theirs.text.replace("alpha", "NAME") == missing.text.replace("nobody", "NAME")
    assert api.status_code == 404 and events.status_code == 404
    assert own.status_code == 200


async def test_an_admin_may_open_any_workspace(edge: Edge) -> None:
    async with browser(edge) as http:
        await sign_in(http, "root")
        assert (await http.get("/workspace/alpha/")).status_code == 200
        assert (await http.get("/workspace/beta/")).status_code == 200


async def test_a_forged_cookie_gets_nothing_and_teaches_caddy_nothing(edge: Edge) -> None:
    async with browser(edge) as http:
        http.cookies.set(SESSION_COOKIE, "forged-" + "Q" * 36)
        workspace = await http.get("/workspace/alpha/")
        api = await http.get("/api/workspaces")
    assert workspace.status_code == 401 and api.status_code == 401
    assert await edge.sessions.known() == set()


async def test_tokens_open_workspaces_until_revoked_or_expired(edge: Edge) -> None:
    token, record = edge.auth.tokens.create("ann")
    bearer = {"Authorization": f"Bearer {token}"}
    async with browser(edge, headers=bearer) as http:
        assert (await http.get("/workspace/alpha/")).json()["authorization"] is None
        assert (await http.get("/api/workspaces")).json()["total"] == 1
        edge.auth.tokens.revoke(record.id)
        assert (await http.get("/workspace/alpha/")).status_code == 401
        assert (await http.get("/api/workspaces")).status_code == 401
    expired, _ = TokenStore(edge.auth.tokens._file.path, clock=lambda: 0.0).create("ann", days=1)
    async with browser(edge) as http:
        gone = {"Authorization": f"Bearer {expired}"}
        assert (await http.get("/workspace/alpha/", headers=gone)).status_code == 401
        assert (await http.get("/api/workspaces", headers=gone)).status_code == 401


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(edge: Edge) -> None:
    async with browser(edge) as http:
        csrf = await sign_in(http, "ann")
        refused = await http.post("/api/workspaces", json={"name": "sneaky"})
        stop = await http.post("/api/workspaces/alpha/stop")
        listed = (await http.get("/api/workspaces")).json()
        made = await http.post(
            "/api/workspaces", json={"name": "fine"}, headers={"X-CSRF-Token": csrf}
        )
    assert refused.status_code == 403 and stop.status_code == 403
    assert [w["name"] for w in listed["items"]] == ["alpha"]
    assert listed["items"][0]["desired"] == "running"
    assert made.status_code == 202


async def test_signing_out_closes_the_workspaces_at_once(edge: Edge) -> None:
    async with browser(edge) as http:
        csrf = await sign_in(http, "ann")
        token = http.cookies[SESSION_COOKIE]
        assert (await http.get("/workspace/alpha/")).status_code == 200
        await caddy_knows(edge, token)
        assert (await http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})).is_success
        http.cookies.set(SESSION_COOKIE, token)
        assert (await http.get("/workspace/alpha/")).status_code == 401
        assert (await http.get("/api/me")).status_code == 401


async def test_a_forged_client_address_does_not_dodge_the_rate_limit(edge: Edge) -> None:
    """Caddy replaces a client's X-Tidepool-Client (and X-Forwarded-For is not read): three
    wrong guesses for ann, each claiming another address, still count against hers."""
    async with browser(edge) as http:
        for i in range(3):
            forged = f"203.0.113.{i}"
            wrong = await http.post(
                "/api/auth/login",
                json={"name": "ann", "password": "a-wrong-guess"},
                headers={"X-Forwarded-For": forged, "X-Tidepool-Client": forged},
            )
            assert wrong.status_code == 401
        forged = "203.0.113.99"
        right = await http.post(
            "/api/auth/login",
            json={"name": "ann", "password": PASSWORDS["ann"]},
            headers={"X-Forwarded-For": forged, "X-Tidepool-Client": forged},
        )
    assert right.status_code == 429
    assert "Retry-After" in right.headers


async def test_a_forged_user_header_is_ignored(edge: Edge) -> None:
    async with browser(edge) as http:
        as_root = {"X-Tidepool-User": "root", "X-Tidepool-Via": ""}
        assert (await http.get("/api/me", headers=as_root)).status_code == 401
        assert (await http.get("/workspace/alpha/", headers=as_root)).status_code == 401
        await sign_in(http, "bob")
        assert (await http.get("/api/me", headers=as_root)).json()["name"] == "bob"
        assert (await http.get("/workspace/alpha/", headers=as_root)).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/workspace/beta/../alpha/",
        "/workspace/beta/%2e%2e/alpha/",
        "/workspace/beta/port/8081/../../../alpha/port/8081/",
        "/workspace/beta/port/8081/%2E%2E/%2E%2E/%2E%2E/alpha/",
    ],
)
async def test_traversal_cannot_reach_another_users_workspace(edge: Edge, path: str) -> None:
    async with browser(edge) as http:
        await sign_in(http, "bob")
        cookie = f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"
    status, body = await raw_get(edge.base, path, {"Cookie": cookie})
    assert status == 400
    assert "127.0.0.11" not in body


async def test_a_workspace_origin_gets_its_own_grant_and_the_workspace_no_credential(
    tmp_path: Path,
) -> None:
    """The handshake through a real Caddy, up to what the workspace receives and answers."""
    async with signed_in_edge(tmp_path, workspace_domain=WORKSPACES) as edge:
        host = {"Host": f"8081--alpha.{WORKSPACES}:8080"}
        async with browser(edge) as http:
            stranger = await http.get("/assets/app.js", headers={**host, **HTML})
            assert stranger.status_code == 302
            handshake = stranger.headers["location"]
            assert handshake.startswith(f"{edge.base}/api/auth/handshake?to=")
            await sign_in(http, "ann")
            coded = await http.get(handshake)
            assert coded.status_code == 302
            exchange = httpx.URL(coded.headers["location"])
            assert exchange.host == f"8081--alpha.{WORKSPACES}"
            assert exchange.path == "/_tidepool/exchange"
            granted = await http.get(
                f"{edge.base}{exchange.raw_path.decode()}", headers={**host, "Cookie": ""}
            )
            assert granted.status_code == 302 and granted.headers["location"] == "/assets/app.js"
            grant = granted.headers["set-cookie"].split(";", 1)[0]
            assert grant.startswith(f"{GRANT_COOKIE}=")
            session = f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"
            cookie = f"{grant}; theme=dark; {session}"
            owner = await http.get("/assets/app.js?v=2", headers={**host, "Cookie": cookie})
            # The grant for the port's origin is not the IDE's.
            ide = await http.get(
                "/", headers={"Host": f"alpha.{WORKSPACES}:8080", "Cookie": grant, **HTML}
            )
            hostile = await http.get("/hostile", headers={**host, "Cookie": grant})
        assert owner.status_code == 200, owner.text
        assert owner.json()["path"] == "/assets/app.js?v=2"
        # Neither the grant nor the session reaches the workspace.
        assert owner.json()["cookie"] == "theme=dark"
        assert ide.status_code == 302 and "/api/auth/handshake" in ide.headers["location"]
        # What the workspace answers cannot plant Tidepool's cookies or widen a worker's scope.
        assert hostile.status_code == 200
        planted = hostile.headers.get_list("set-cookie")
        assert "theme=dark; Path=/" in planted
        assert not [c for c in planted if "planted" in c or "tidepool_" in c.lower()]
        assert "service-worker-allowed" not in hostile.headers


async def test_the_cli_client_signs_in_with_a_token(edge: Edge) -> None:
    token, _ = edge.auth.tokens.create("ann")
    client = ApiClient.connect(url=edge.base, token=token)
    stranger = ApiClient.connect(url=edge.base)
    try:
        listed = await client.list()
        with pytest.raises(InvalidInputError, match=r"Sign in required.*TIDEPOOL_TOKEN"):
            await stranger.list()
    finally:
        await client.aclose()
        await stranger.aclose()
    assert [w["name"] for w in listed["items"]] == ["alpha"]


async def test_the_main_host_cannot_claim_to_be_a_workspace_origin(tmp_path: Path) -> None:
    """A code trade on the main host, naming a workspace origin in the header the exchange
    trusts, is seen for what it is: Caddy replaces that header with the real host."""
    async with signed_in_edge(tmp_path, workspace_domain=WORKSPACES) as edge:
        async with browser(edge) as http:
            forged = await http.get(
                "/api/auth/exchange?code=anything",
                headers={"X-Tidepool-Host": f"alpha.{WORKSPACES}"},
            )
        assert forged.status_code == 400 and "only good on its workspace" in forged.text
        assert "set-cookie" not in forged.headers
