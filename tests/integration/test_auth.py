"""Basic auth and ownership in a real Caddy: who gets in, and who sees what.

Two users and an admin; stand-in upstreams play the workspaces and the control plane's API.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from support.caddy import configured_caddy
from support.ports import free_port
from support.upstream import unix_upstream, upstream
from tidepool.adapters.caddy import config

pytestmark = pytest.mark.caddy
PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "root": "root-password"}
ANN, BOB, ROOT = (("ann", PASSWORDS["ann"]), ("bob", PASSWORDS["bob"]), ("root", PASSWORDS["root"]))


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@contextlib.asynccontextmanager
async def guarded_caddy(directory: Path) -> AsyncIterator[str]:
    """A Caddy with basic auth: ann owns alpha (127.0.0.11), bob owns beta (127.0.0.12)."""
    options = config.CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
        api_socket=directory / "api.sock",
        users=tuple((name, _hash(pw)) for name, pw in PASSWORDS.items()),
        admins=("root",),
    )
    routes = {"alpha": "127.0.0.11", "beta": "127.0.0.12"}
    async with (
        configured_caddy(directory, options, routes, {"alpha": "ann", "beta": "bob"}),
        upstream("127.0.0.11", options.workspace_port),
        upstream("127.0.0.11", 8081),
        unix_upstream(str(options.api_socket)),
    ):
        yield f"http://{options.listen}"


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    async with guarded_caddy(tmp_path) as url:
        yield url


@pytest.mark.parametrize(
    "path",
    [
        "/app/",
        "/api/workspaces",
        "/workspace/alpha/",
        "/workspace/alpha/port/8081/",
        "/workspace/nobody/",
    ],
)
async def test_without_credentials_everything_but_the_root_refuses(base: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "Sign in required" in response.text
    assert "127.0.0.11" not in response.text


async def test_a_wrong_password_is_refused(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, auth=("ann", "not-her-password")) as http:
        assert (await http.get("/workspace/alpha/")).status_code == 401
        assert (await http.get("/api/workspaces")).status_code == 401


async def test_the_owner_gets_in_and_the_workspace_never_sees_the_credentials(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, auth=ANN) as http:
        page = await http.get("/workspace/alpha/x")
        port = await http.get("/workspace/alpha/port/8081/y")
    assert page.status_code == 200 and port.status_code == 200
    assert page.json()["path"] == "/x" and port.json()["path"] == "/y"
    assert page.json()["authorization"] is None
    assert port.json()["authorization"] is None


@pytest.mark.parametrize(
    "path", ["/workspace/alpha/", "/workspace/alpha/port/8081/", "/workspace/alpha"]
)
async def test_someone_elses_workspace_looks_missing(base: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=base, auth=BOB) as http:
        theirs = await http.get(path, follow_redirects=True)
        missing = await http.get("/workspace/nobody/")
    assert theirs.status_code == 404
    assert "No such workspace" in theirs.text
    assert theirs.text.replace("alpha", "NAME") == missing.text.replace("nobody", "NAME")


async def test_an_admin_may_open_any_workspace(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, auth=ROOT) as http:
        assert (await http.get("/workspace/alpha/")).status_code == 200


async def test_the_api_learns_the_user_from_caddy_and_a_forged_header_is_replaced(
    base: str,
) -> None:
    async with httpx.AsyncClient(base_url=base, auth=BOB) as http:
        response = await http.get("/api/workspaces", headers={"X-Tidepool-User": "root"})
    assert response.status_code == 200
    seen = json.loads(response.text)
    assert seen["user"] == "bob"


@pytest.mark.parametrize("path", ["/workspace/alpha/../beta/", "/workspace/alpha/%2e%2e/beta/"])
async def test_traversal_cannot_reach_another_users_workspace(base: str, path: str) -> None:
    from support.rawhttp import raw_get

    credentials = base64.b64encode(b"ann:ann-password").decode()
    status, body = await raw_get(base, path, {"Authorization": f"Basic {credentials}"})
    assert status == 400
    assert "127.0.0.12" not in body


@contextlib.asynccontextmanager
async def origin_caddy(directory: Path) -> AsyncIterator[str]:
    """Basic auth on the main host, and workspace origins under ``ws.test``."""
    options = config.CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
        users=tuple((name, _hash(pw)) for name, pw in PASSWORDS.items()),
        admins=("root",),
        workspace_domain="ws.test",
    )
    async with (
        configured_caddy(directory, options, {"alpha": "127.0.0.11"}, {"alpha": "ann"}),
        upstream("127.0.0.11", 8081),
        upstream("127.0.0.11", options.workspace_port),
    ):
        yield f"http://{options.listen}"


async def test_a_workspace_origin_takes_no_password_only_its_own_grant(tmp_path: Path) -> None:
    """The main host's basic credentials open nothing on a workspace origin: a browser sends
    them to whichever origin asks, so a workspace could collect them. Without the control
    plane to hand out grants, the origin stays shut."""
    async with origin_caddy(tmp_path) as base, httpx.AsyncClient(base_url=base) as http:
        for host in ("8081--alpha.ws.test", "alpha.ws.test"):
            owner = await http.get("/assets/app.js", headers={"Host": host}, auth=ANN)
            nobody = await http.get("/assets/app.js", headers={"Host": host})
            assert owner.status_code == 401 and "127.0.0.11" not in owner.text, host
            assert nobody.status_code == 401, host
        main = await http.get("/workspace/alpha/", auth=ANN)
    assert main.status_code == 200, "the main host's paths still take basic auth"
