"""The SSH tunnel's door through a real Caddy and the real control-plane app.

ann owns ``alpha`` (running at 127.0.0.11) and bob owns ``beta``; a stand-in for alpha's SSH
bridge echoes bytes on 127.0.0.11 and counts who reached it. Every refusal must come before
a byte reaches the workspace, and be in the audit log; an admitted tunnel carries bytes both
ways without the client's credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve

from support.caddy import configured_caddy
from support.echo import serving
from support.ports import free_port
from support.users import write_users
from tidepool.adapters.caddy import config
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.audit import AuditLog
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SESSION_COOKIE, SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.domain.audit import AuditQuery, Outcome
from tidepool.domain.ide import SSH_BRIDGE_PORT
from tidepool.domain.identity import DEFAULT_SCOPES, Scope
from tidepool.domain.workspace import Status, Workspace
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

pytestmark = pytest.mark.caddy
PASSWORDS = {"ann": "ann-password", "bob": "bob-password"}
WITH_SSH = DEFAULT_SCOPES | {Scope.SSH}


@dataclass
class Door:
    base: str
    tokens: TokenStore
    audit: AuditLog
    auth: Authenticator
    #: What reached the stand-in bridge: each connection's request headers.
    reached: list[dict[str, str]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base.replace('http', 'ws', 1)}/api/workspaces/{name}/ssh"


@contextlib.asynccontextmanager
async def door(directory: Path) -> AsyncIterator[Door]:
    users = write_users(directory / "users.json", PASSWORDS, frozenset())
    tokens = TokenStore(directory / "tokens.json")
    auth = Authenticator(users, SessionStore(directory / "sessions.json"), tokens, SignInLimiter())
    audit = AuditLog(directory / "audit.log")
    options = config.CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
        api_socket=directory / "api.sock",
        forward_auth=True,
        workspace_domain="localhost",
        serve_paths=False,
    )
    store = memory_store()[0]
    for name, owner, address in (("alpha", "ann", "127.0.0.11"), ("beta", "bob", "127.0.0.12")):
        added = await store.add(Workspace(name=name, owner=owner, image="img"))
        await store.save(replace(added, status=Status.RUNNING, address=address))
    await store.add(Workspace(name="gamma", owner="ann", image="img"))  # not running
    plane = ControlPlane(
        WorkspaceService(store, default_image="img", audit=audit),
        store,
        f"http://{options.listen}",
        admins=users.admins,
        authenticator=auth,
        audit=audit,
    )
    opened = Door(f"http://{options.listen}", tokens, audit, auth)

    async def bridge(connection: ServerConnection) -> None:
        opened.reached.append(dict(connection.request.headers))
        async for message in connection:
            await connection.send(message)

    async with (
        configured_caddy(directory, options, {}),
        serving(create_app(plane), uds=str(options.api_socket)),
        serve(bridge, "127.0.0.11", SSH_BRIDGE_PORT),
    ):
        yield opened


async def refused(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(websockets.InvalidStatus) as answer:
        async with websockets.connect(url, additional_headers=headers):
            pass
    return answer.value.response.status_code


async def test_a_token_with_ssh_carries_bytes_both_ways_and_no_credential(tmp_path: Path) -> None:
    async with door(tmp_path) as edge:
        token, _ = edge.tokens.create("ann", scopes=WITH_SSH)
        session, _ = edge.auth.sessions.create("ann")
        for credential in (
            {"Authorization": f"Bearer {token}"},
            {"Cookie": f"{SESSION_COOKIE}={session}"},
        ):
            async with websockets.connect(
                edge.url("alpha"), additional_headers=credential
            ) as tunnel:
                await tunnel.send(b"SSH-2.0-test\r\n")
                assert await tunnel.recv() == b"SSH-2.0-test\r\n"
        assert len(edge.reached) == 2
        for headers in edge.reached:
            assert not {"authorization", "cookie"} & {k.lower() for k in headers}
        entries = edge.audit.entries(AuditQuery(action="workspace.ssh"))[0]
        assert [(e.actor, e.target, e.outcome) for e in entries] == [
            ("ann", "alpha", Outcome.OK)
        ] * 2


async def test_every_refusal_comes_before_a_byte_reaches_the_workspace(tmp_path: Path) -> None:
    async with door(tmp_path) as edge:
        plain, _ = edge.tokens.create("ann")  # read and workspaces: no ssh
        bobs, _ = edge.tokens.create("bob", scopes=WITH_SSH)
        limited, _ = edge.tokens.create("ann", scopes=WITH_SSH, workspaces=frozenset({"gamma"}))
        anns, _ = edge.tokens.create("ann", scopes=WITH_SSH)
        bearer = {
            name: {"Authorization": f"Bearer {t}"}
            for name, t in (("plain", plain), ("bobs", bobs), ("limited", limited), ("anns", anns))
        }
        assert await refused(edge.url("alpha"), {}) == 401
        assert await refused(edge.url("alpha"), bearer["plain"]) == 403
        # A token limited to other workspaces, and someone else's workspace: as a missing one.
        assert await refused(edge.url("alpha"), bearer["limited"]) == 404
        assert await refused(edge.url("alpha"), bearer["bobs"]) == 404
        assert await refused(edge.url("nothere"), bearer["bobs"]) == 404
        assert await refused(edge.url("gamma"), bearer["anns"]) == 409  # not running
        # Not a name: not the tunnel's path at all (the API has no WebSocket there).
        assert 400 <= await refused(edge.url("..%2Fbeta"), bearer["anns"]) < 500
        # A page (one a workspace serves) with the viewer's session cookie: browsers send
        # their Origin with a WebSocket, and a page gets no tunnel.
        session, _ = edge.auth.sessions.create("ann")
        from_page = {"Cookie": f"{SESSION_COOKIE}={session}", "Origin": "http://beta.localhost"}
        assert await refused(edge.url("alpha"), from_page) == 403
        assert edge.reached == []
        denied = [
            (e.actor, e.target)
            for e in edge.audit.entries(AuditQuery(action="workspace.ssh"))[0]
            if e.outcome is Outcome.DENIED
        ]
        assert sorted(denied) == [
            ("", "alpha"),  # no credential: nobody, from where it came
            ("", "alpha"),  # from a web page
            ("ann", "alpha"),
            ("ann", "alpha"),
            ("ann", "gamma"),
            ("bob", "alpha"),
        ]
