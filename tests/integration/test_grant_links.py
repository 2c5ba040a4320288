"""A grant's link to its workspace's route, through a real Caddy (``tidepool.auth.grants``).

Caddy finds a workspace origin's grant and the workspace's address in one lookup, through
the link each grant holds. These tests play what could go wrong with that: the route moving,
the workspace stopping, a grant from before links, a cookie shaped to walk to another
workspace's grant, and revocation. Stand-in workspaces on loopback: ann's alpha (127.0.0.11)
and bob's beta (127.0.0.12). The control plane here refuses everyone, so anything not
admitted by a grant is refused.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.caddy import configured_caddy
from support.echo import echo_app, serving
from support.ports import free_port
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.auth.grants import GrantStore
from tidepool.domain.origins import WorkspaceHost
from tidepool.edge import GRANT_COOKIE, GRANT_ROUTE_LINK

pytestmark = pytest.mark.caddy
DOMAIN = "ws.example.test"


@dataclass
class Edge:
    base: str
    grants: GrantStore
    routes: CaddyRouteTable
    options: config.CaddyOptions

    async def get(self, label: str, grant: str, cookies: str = "") -> httpx.Response:
        cookie = "; ".join(c for c in (f"{GRANT_COOKIE}={grant}" if grant else "", cookies) if c)
        headers = {"Host": f"{label}.{DOMAIN}:8080", "Cookie": cookie}
        async with httpx.AsyncClient(base_url=self.base) as http:
            return await http.get("/page", headers=headers)


async def refusing_api(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A control plane that admits no one (what it answers past a grant is not tested here)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"refused"})


@contextlib.asynccontextmanager
async def linked_edge(directory: Path) -> AsyncIterator[Edge]:
    options = config.CaddyOptions(
        admin_socket=directory / "admin.sock",
        storage_dir=directory / "storage",
        listen=f"127.0.0.1:{free_port()}",
        workspace_port=free_port(),
        api_socket=directory / "api.sock",
        forward_auth=True,
        admins=("root",),
        workspace_domain=DOMAIN,
        serve_paths=False,
    )
    routes = {"alpha": "127.0.0.11", "beta": "127.0.0.12"}
    owners = {"alpha": "ann", "beta": "bob"}
    grants = GrantStore(options.grants_dir, routes_dir=options.routes_dir)
    async with (
        configured_caddy(directory, options, routes, owners),
        serving(refusing_api, uds=str(options.api_socket)),
        serving(echo_app, host="127.0.0.11", port=options.workspace_port),
        serving(echo_app, host="127.0.0.12", port=options.workspace_port),
        serving(echo_app, host="127.0.0.13", port=options.workspace_port),
    ):
        table = CaddyRouteTable(options.routes_dir)
        yield Edge(f"http://{options.listen}", grants, table, options)


async def test_a_grant_finds_its_workspace_and_the_workspace_no_cookie_of_ours(
    tmp_path: Path,
) -> None:
    async with linked_edge(tmp_path) as edge:
        token = edge.grants.issue(WorkspaceHost("alpha", None), "ann", "basic")
        assert (edge.options.grants_dir / "alpha" / token / GRANT_ROUTE_LINK).is_symlink()
        alone = await edge.get("alpha", token)
        beside = await edge.get("alpha", token, "theme=dark")
        first = await edge.get("alpha", "", f"theme=dark; {GRANT_COOKIE}={token}")
    assert alone.status_code == 200, alone.text
    # The grant alone: the whole header goes; beside others, only the grant.
    assert alone.json()["cookie"] is None
    assert beside.json()["cookie"] == "theme=dark"
    assert first.status_code == 200 and first.json()["cookie"] == "theme=dark"


async def test_the_grant_follows_its_workspace_when_the_route_moves(tmp_path: Path) -> None:
    async with linked_edge(tmp_path) as edge:
        token = edge.grants.issue(WorkspaceHost("alpha", None), "ann", "basic")
        assert (await edge.get("alpha", token)).status_code == 200
        await edge.routes.add("alpha", "127.0.0.13", "ann")  # restarted at a new address
        moved = await edge.get("alpha", token)
        await edge.routes.remove("alpha")  # stopped
        stopped = await edge.get("alpha", token)
    assert moved.status_code == 200
    # Still a grant, for a workspace that is not there: the page says so (no handshake loop).
    assert stopped.status_code == 404
    assert "location" not in stopped.headers


async def test_a_grant_from_before_links_still_admits(tmp_path: Path) -> None:
    async with linked_edge(tmp_path) as edge:
        unlinked = GrantStore(edge.options.grants_dir)
        token = unlinked.issue(WorkspaceHost("alpha", None), "ann", "basic")
        assert not (edge.options.grants_dir / "alpha" / token / GRANT_ROUTE_LINK).exists()
        answer = await edge.get("alpha", token)
    assert answer.status_code == 200 and answer.json()["cookie"] is None


async def test_a_cookie_cannot_walk_to_another_origins_grant(tmp_path: Path) -> None:
    """bob holds a grant for his beta; on alpha's origin, no spelling of it gets anywhere."""
    async with linked_edge(tmp_path) as edge:
        bobs = edge.grants.issue(WorkspaceHost("beta", None), "bob", "basic")
        port = edge.grants.issue(WorkspaceHost("alpha", 8081), "ann", "basic")
        tries = [bobs, f"../beta/{bobs}", f"..%2Fbeta%2F{bobs}", "*", f"../beta/{bobs}/route/.."]
        answers = [await edge.get("alpha", value) for value in tries]
        # A port's grant is not the IDE's, though both lead to alpha's route.
        answers.append(await edge.get("alpha", port))
    for value, answer in zip([*tries, port], answers, strict=True):
        assert answer.status_code != 200, value
        assert "127.0.0.1" not in answer.text and '"path"' not in answer.text, value


async def test_revoking_a_grant_leaves_its_workspace_route_alone(tmp_path: Path) -> None:
    async with linked_edge(tmp_path) as edge:
        token = edge.grants.issue(WorkspaceHost("alpha", None), "ann", "basic")
        gone = edge.grants.revoke(lambda grant: False)
        refused = await edge.get("alpha", token)
        other = edge.grants.issue(WorkspaceHost("alpha", None), "ann", "basic")
        admitted = await edge.get("alpha", other)
    assert [g.path.name for g in gone] == [token]
    assert refused.status_code != 200
    assert (edge.options.routes_dir / "alpha").is_dir()
    assert admitted.status_code == 200
    shutil.rmtree(edge.options.grants_dir, ignore_errors=True)
