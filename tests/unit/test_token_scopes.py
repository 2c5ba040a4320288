"""Token scopes and workspace limits: decided on ``Identity`` and in ``WorkspaceService``, and
the same through the API (``/api/tokens``, ``/api/workspaces``, ``/api/me``, ``/api/audit``).

The service runs over the in-memory store; the API through an ASGI transport with the real
sessions and tokens files, requests marked as Caddy marks them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from support.users import write_users
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane, Recheck, get_recheck
from tidepool.api.sse import all_events_stream
from tidepool.auth.audit import AuditLog
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SESSION_COOKIE, SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.domain.audit import AuditQuery, Outcome
from tidepool.domain.identity import (
    EVERY_SCOPE,
    Identity,
    Scope,
    parse_scopes,
    parse_workspace_limit,
)
from tidepool.domain.workspace import Action, Desired
from tidepool.edge import VIA_HEADER
from tidepool.errors import ForbiddenError, InvalidInputError, NotFoundError
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)
READ_ONLY = Identity.acting(
    "ann", user_is_admin=False, scopes=frozenset({Scope.READ}), token_id="aaaaaaaaaaaa"
)
ONLY_ALPHA = Identity.acting(
    "ann",
    user_is_admin=False,
    scopes=frozenset({Scope.READ, Scope.WORKSPACES}),
    workspaces=frozenset({"alpha"}),
    token_id="bbbbbbbbbbbb",
)
PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "root": "root-password"}


# --- Identity ---------------------------------------------------------------------------------


def test_admin_power_needs_both_an_admin_user_and_the_admin_scope() -> None:
    plain = frozenset({Scope.READ, Scope.WORKSPACES})
    assert Identity.acting("root", user_is_admin=True).admin
    assert not Identity.acting("root", user_is_admin=True, scopes=plain).admin
    demoted = Identity.acting("root", user_is_admin=False, scopes=EVERY_SCOPE)
    assert not demoted.admin and Scope.ADMIN not in demoted.scopes


def test_scopes_and_limits_are_parsed_at_the_edge_with_readable_refusals() -> None:
    assert parse_scopes([]) == {Scope.READ}
    assert parse_scopes(["workspaces"]) == {Scope.READ, Scope.WORKSPACES}
    with pytest.raises(InvalidInputError, match=r"Unknown token scope 'root'.*read, workspaces"):
        parse_scopes(["root"])
    assert parse_workspace_limit(None) is None
    assert parse_workspace_limit(["alpha", "alpha"]) == frozenset({"alpha"})
    for bad in (["../etc"], [], [f"w{i}" for i in range(21)]):
        with pytest.raises(InvalidInputError):
            parse_workspace_limit(bad)


def test_a_read_token_is_refused_changes_with_a_reason() -> None:
    with pytest.raises(ForbiddenError) as refused:
        READ_ONLY.check_may_change("stop", "alpha")
    assert str(refused.value).startswith("This token may only read; it cannot stop workspaces")


# --- the service --------------------------------------------------------------------------------


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.log")


@pytest.fixture
def service(audit: AuditLog) -> WorkspaceService:
    return WorkspaceService(memory_store()[0], default_image="img", audit=audit)


async def test_a_read_token_sees_but_cannot_create_start_stop_or_delete(
    service: WorkspaceService, audit: AuditLog
) -> None:
    await service.create("alpha", who=ANN)
    assert (await service.get("alpha", who=READ_ONLY)).name == "alpha"
    with pytest.raises(ForbiddenError, match="cannot create"):
        await service.create("beta", who=READ_ONLY)
    for action in Action:
        with pytest.raises(ForbiddenError, match=f"cannot {action.value} workspaces"):
            await service.request("alpha", action, who=READ_ONLY)
    assert (await service.get("alpha", who=ANN)).desired is Desired.RUNNING, "nothing changed"
    entries, _ = audit.entries(AuditQuery(actor="ann"))
    assert [(e.action, e.outcome, e.token) for e in entries] == [
        ("workspace.create", Outcome.OK, ""),
        ("workspace.create", Outcome.DENIED, "aaaaaaaaaaaa"),
        ("workspace.start", Outcome.DENIED, "aaaaaaaaaaaa"),
        ("workspace.stop", Outcome.DENIED, "aaaaaaaaaaaa"),
        ("workspace.delete", Outcome.DENIED, "aaaaaaaaaaaa"),
    ]


async def test_a_limited_token_sees_only_its_workspaces(
    service: WorkspaceService, audit: AuditLog
) -> None:
    alpha = await service.create("alpha", who=ANN)
    beta = await service.create("beta", who=ANN)
    root_admin = Identity.acting("root", user_is_admin=True, workspaces=frozenset({"alpha"}))
    for who in (ONLY_ALPHA, root_admin):
        with pytest.raises(NotFoundError) as hidden:
            await service.get("beta", who=who)
        assert str(hidden.value) == "No workspace named 'beta'."
        with pytest.raises(NotFoundError):
            await service.request("beta", Action.STOP, who=who)
        assert [w.name for w in (await service.list(who=who)).items] == ["alpha"]
        assert await service.name_if_visible(beta.id, who=who) is None
        assert await service.name_if_visible(alpha.id, who=who) == "alpha"
    assert (await service.list(who=ONLY_ALPHA, offset=1)).items == []
    with pytest.raises(ForbiddenError, match="limited to the workspaces alpha"):
        await service.create("gamma", who=ONLY_ALPHA)
    stopped = await service.request("alpha", Action.STOP, who=ONLY_ALPHA)
    assert stopped.desired is Desired.STOPPED
    entries = audit.entries(AuditQuery(action="workspace", limit=1000))[0]
    denied = [e for e in entries if e.outcome is Outcome.DENIED]
    assert [(e.action, e.target) for e in denied] == [
        ("workspace.read", "beta"),
        ("workspace.stop", "beta"),
        ("workspace.read", "beta"),
        ("workspace.stop", "beta"),
        ("workspace.create", "gamma"),
    ]
    assert {e.detail for e in denied[:4]} == {"outside the token's workspaces"}


async def test_an_event_stream_ends_once_its_credential_no_longer_holds() -> None:
    store = memory_store()[0]
    service = WorkspaceService(store, default_image="img")
    await service.create("alpha", who=ANN)
    valid = True

    async def still_valid() -> bool:
        return valid

    async def visible(_: str) -> str | None:
        return "alpha"

    stream = all_events_stream(store, visible, 0, 0.01, still_valid, recheck_every=0.02)
    assert await anext(stream) == "retry: 1000\n\n"
    await service.request("alpha", Action.STOP, who=ANN)
    assert "event: request" in await anext(stream)
    valid = False
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


# --- the API ------------------------------------------------------------------------------------


@dataclass
class Api:
    http: httpx.AsyncClient
    tokens: TokenStore
    audit: AuditLog
    service: WorkspaceService


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"root"}))
    tokens = TokenStore(tmp_path / "tokens.json")
    auth = Authenticator(users, SessionStore(tmp_path / "sessions.json"), tokens, SignInLimiter())
    audit = AuditLog(tmp_path / "audit.log")
    store = memory_store()[0]
    service = WorkspaceService(store, default_image="img", audit=audit)
    plane = ControlPlane(
        service,
        store,
        "http://tidepool.test",
        admins=users.admins,
        authenticator=auth,
        audit=audit,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={VIA_HEADER: "caddy"}
    ) as http:
        yield Api(http, tokens, audit, service)


async def signed_in(api: Api, name: str) -> dict[str, str]:
    """Sign in (the cookie stays in the client); the headers a change must carry."""
    response = await api.http.post(
        "/api/auth/login", json={"name": name, "password": PASSWORDS[name]}
    )
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_signed_in_user_creates_lists_and_revokes_their_own_tokens(api: Api) -> None:
    csrf = await signed_in(api, "ann")
    refused = await api.http.post("/api/tokens", json={"label": "ci"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    created = await api.http.post(
        "/api/tokens",
        json={"label": "ci", "scopes": ["read"], "workspaces": ["alpha"], "days": 7},
        headers=csrf,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["scopes"] == ["read"] and body["workspaces"] == ["alpha"] and not body["legacy"]
    me = (await api.http.get("/api/me", headers=bearer(body["token"]))).json()
    assert me["scopes"] == ["read"] and me["workspaces"] == ["alpha"]
    assert me["token_id"] == body["id"] and "csrf_token" not in me
    listed = (await api.http.get("/api/tokens")).json()["items"]
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    revoked = await api.http.delete(f"/api/tokens/{body['id']}", headers=csrf)
    assert revoked.status_code == 200 and revoked.json()["revoked"]
    assert (await api.http.get("/api/me", headers=bearer(body["token"]))).status_code == 401
    actions = [(e.action, e.outcome) for e in api.audit.entries(AuditQuery(action="token"))[0]]
    assert actions == [("token.create", Outcome.OK), ("token.revoke", Outcome.OK)]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"scopes": ["sudo"]}, 400, "Unknown token scope 'sudo'"),
        ({"workspaces": ["../../etc"]}, 400, "Invalid workspace name"),
        ({"workspaces": []}, 400, "at least one workspace"),
        ({"label": "$(reboot)"}, 400, "token label"),
        ({"days": -1}, 400, "positive number of days"),
        ({"scopes": ["admin"]}, 403, "Only an admin may create tokens with the 'admin' scope"),
        ({"user": "bob"}, 403, "Only an admin may create tokens for other users"),
        ({"owner": "bob"}, 422, "not a known field"),
    ],
)
async def test_bad_or_forbidden_token_requests_are_refused_and_change_nothing(
    api: Api, body: dict[str, object], status: int, fragment: str
) -> None:
    csrf = await signed_in(api, "ann")
    response = await api.http.post("/api/tokens", json=body, headers=csrf)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert api.tokens.list() == []


async def test_only_admins_mint_admin_tokens_and_only_for_admins(api: Api) -> None:
    csrf = await signed_in(api, "root")
    for_bob = await api.http.post(
        "/api/tokens", json={"user": "bob", "scopes": ["admin"]}, headers=csrf
    )
    assert for_bob.status_code == 403 and "'bob' is not an admin" in for_bob.json()["detail"]
    admin = await api.http.post("/api/tokens", json={"scopes": ["admin"]}, headers=csrf)
    assert admin.status_code == 201 and admin.json()["scopes"] == ["admin", "read"]
    plain = await api.http.post("/api/tokens", json={"user": "bob"}, headers=csrf)
    assert plain.status_code == 201 and plain.json()["user"] == "bob"
    # An admin lists and revokes anyone's.
    assert len((await api.http.get("/api/tokens")).json()["items"]) == 2
    bobs = plain.json()["id"]
    assert (await api.http.delete(f"/api/tokens/{bobs}", headers=csrf)).status_code == 200


async def test_a_token_mints_and_revokes_no_tokens_and_others_tokens_are_hidden(
    api: Api,
) -> None:
    anns_token, anns = api.tokens.create("ann")
    _, bobs = api.tokens.create("bob")
    minted = await api.http.post("/api/tokens", json={}, headers=bearer(anns_token))
    assert minted.status_code == 403 and "not by another token" in minted.json()["detail"]
    csrf = await signed_in(api, "ann")
    hidden = await api.http.delete(f"/api/tokens/{bobs.id}", headers=csrf)
    missing = await api.http.delete("/api/tokens/000000000000", headers=csrf)
    assert hidden.status_code == missing.status_code == 404
    assert not api.tokens.get(bobs.id).revoked
    others = await api.http.get("/api/tokens", params={"user": "bob"})
    assert others.status_code == 403
    assert [t["id"] for t in (await api.http.get("/api/tokens")).json()["items"]] == [anns.id]


async def test_a_read_token_cannot_stop_through_the_api(api: Api) -> None:
    await api.service.create("alpha", who=ANN)
    token, _ = api.tokens.create("ann", scopes=frozenset({Scope.READ}))
    assert (await api.http.get("/api/workspaces/alpha", headers=bearer(token))).status_code == 200
    stop = await api.http.post("/api/workspaces/alpha/stop", headers=bearer(token))
    assert stop.status_code == 403
    assert stop.json()["detail"].startswith("This token may only read; it cannot stop")


async def test_a_tokens_from_before_scopes_keeps_its_users_powers(api: Api, tmp_path: Path) -> None:
    """A record with no scopes (what an older version wrote) is every scope of its user."""
    token, record = api.tokens.create("root")
    path = tmp_path / "tokens.json"
    data = json.loads(path.read_text())
    for stored in data["records"].values():
        del stored["scopes"], stored["workspaces"]
    path.write_text(json.dumps(data))
    found = api.tokens.find(token)
    assert found is not None and found.scopes is None and found.workspaces is None
    me = (await api.http.get("/api/me", headers=bearer(token))).json()
    assert me["admin"] and me["scopes"] == ["admin", "read", "workspaces"]
    audit = await api.http.get("/api/audit", headers=bearer(token))
    assert audit.status_code == 200
    listed = (await api.http.get("/api/tokens", headers=bearer(token))).json()["items"]
    assert listed[0]["id"] == record.id and listed[0]["legacy"]


async def test_the_audit_log_is_for_admins_with_the_admin_scope(api: Api) -> None:
    await api.service.create("alpha", who=ANN)
    plain_root, _ = api.tokens.create("root", scopes=frozenset({Scope.READ}))
    admin_root, _ = api.tokens.create("root", scopes=EVERY_SCOPE)
    anns, _ = api.tokens.create("ann")
    for token in (plain_root, anns):
        refused = await api.http.get("/api/audit", headers=bearer(token))
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    read = await api.http.get(
        "/api/audit", params={"action": "workspace", "actor": "ann"}, headers=bearer(admin_root)
    )
    assert read.status_code == 200
    assert [(e["action"], e["target"]) for e in read.json()["items"]] == [
        ("workspace.create", "alpha")
    ]
    everything = (await api.http.get("/api/audit", headers=bearer(admin_root))).json()
    assert [e["action"] for e in everything["items"]].count("audit.read") == 2
    later = await api.http.get(
        "/api/audit", params={"since": "2999-01-01T00:00"}, headers=bearer(admin_root)
    )
    assert later.json() == {"items": [], "truncated": False}
    one = (await api.http.get("/api/audit", params={"limit": 1}, headers=bearer(admin_root))).json()
    assert len(one["items"]) == 1 and one["truncated"]
    bad = await api.http.get("/api/audit", params={"limit": 0}, headers=bearer(admin_root))
    assert bad.status_code == 422


async def test_a_streams_recheck_notices_demotion_removal_revocation_and_sign_out(
    tmp_path: Path,
) -> None:
    """What an open event stream asks every few seconds (``get_recheck``): the identity its
    credential stands for now. A demoted admin is someone else; a removed user, a revoked
    token and an ended session are no one."""
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"root"}))
    tokens = TokenStore(tmp_path / "tokens.json")
    sessions = SessionStore(tmp_path / "sessions.json")
    auth = Authenticator(users, sessions, tokens, SignInLimiter())
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tidepool.test",
        admins=users.admins,
        authenticator=auth,
    )

    async def recheck(headers: dict[str, str]) -> Recheck:
        raw = [(k.lower().encode(), v.encode()) for k, v in {**headers, VIA_HEADER: "c"}.items()]
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/api/events",
            "headers": raw,
            "query_string": b"",
        }
        return await get_recheck(Request(scope), plane)

    roots, _ = tokens.create("root", scopes=EVERY_SCOPE)
    again = await recheck(bearer(roots))
    opened = await again()
    assert opened is not None and opened.admin
    users.set_admin("root", False)
    demoted = await again()
    assert demoted is not None and not demoted.admin and demoted != opened

    anns, record = tokens.create("ann")
    again = await recheck(bearer(anns))
    assert await again() is not None
    tokens.revoke(record.id)
    assert await again() is None

    bobs, _ = sessions.create("bob")
    again = await recheck({"Cookie": f"{SESSION_COOKIE}={bobs}"})
    assert await again() is not None
    users.remove("bob")
    assert await again() is None

    anns_cookie, anns_session = sessions.create("ann")
    again = await recheck({"Cookie": f"{SESSION_COOKIE}={anns_cookie}"})
    assert await again() is not None
    sessions.end(anns_session.key)  # what signing out does
    assert await again() is None
