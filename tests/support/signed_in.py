"""The API with Tidepool's own sign-in in front (``auth = "forward_auth"``), in process: the
real authenticator, sessions, tokens and audit log in a temporary directory, and the app
reached as Caddy reaches it. For tests of who may do what through the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.users import write_users
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.audit import AuditLog
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.edge import VIA_HEADER
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store


@dataclass
class SignedInApi:
    http: httpx.AsyncClient
    tokens: TokenStore
    audit: AuditLog
    passwords: Mapping[str, str]

    async def sign_in(self, name: str) -> dict[str, str]:
        """Sign ``name`` in (the client keeps the cookie); the headers a change needs."""
        response = await self.http.post(
            "/api/auth/login", json={"name": name, "password": self.passwords[name]}
        )
        assert response.status_code == 200, response.text
        return {"X-CSRF-Token": response.json()["csrf_token"]}


@contextlib.asynccontextmanager
async def signed_in_api(
    directory: Path,
    passwords: Mapping[str, str],
    admins: frozenset[str] = frozenset(),
    **plane: Any,
) -> AsyncIterator[SignedInApi]:
    """The app for ``passwords``' users, with ``plane``'s extra ``ControlPlane`` fields."""
    users = write_users(directory / "users.json", passwords, admins)
    tokens = TokenStore(directory / "tokens.json")
    sessions = SessionStore(directory / "sessions.json")
    auth = Authenticator(users, sessions, tokens, SignInLimiter())
    audit = AuditLog(directory / "audit.log")
    store = memory_store()[0]
    app = create_app(
        ControlPlane(
            WorkspaceService(store, default_image="img"),
            store,
            "http://tidepool.test",
            admins=users.admins,
            authenticator=auth,
            audit=audit,
            **plane,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={VIA_HEADER: "caddy"}
    ) as http:
        yield SignedInApi(http, tokens, audit, passwords)
