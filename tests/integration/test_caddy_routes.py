"""CaddyRouteTable against a real Caddy, with stand-in upstreams on loopback addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import websockets

from support.caddy import RunningCaddy, private_caddy
from support.rawhttp import raw_get
from support.upstream import upstream
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import ensure_base_config, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.domain.routing import Route, RoutePlan
from tidepool.errors import InvalidInputError, NotFoundError
from tidepool.services.routing import apply_route_plan

pytestmark = pytest.mark.caddy


async def test_a_route_strips_its_prefix_and_reaches_its_own_upstream(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    async with (
        upstream("127.0.0.11", caddy.upstream_port),
        upstream("127.0.0.12", caddy.upstream_port),
        httpx.AsyncClient(base_url=caddy.base_url) as http,
    ):
        assert await routes.add("alpha", "127.0.0.11") is True
        assert await routes.add("beta", "127.0.0.12") is True
        a = (await http.get("/workspace/alpha/static/x.js?v=1")).json()
        b = (await http.get("/workspace/beta/")).json()
    assert (a["path"], a["host"]) == ("/static/x.js?v=1", "127.0.0.11")
    assert (b["path"], b["host"]) == ("/", "127.0.0.12")


async def test_the_bare_path_redirects_to_the_trailing_slash(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    await routes.add("alpha", "127.0.0.11")
    async with httpx.AsyncClient(base_url=caddy.base_url) as http:
        response = await http.get("/workspace/alpha")
    assert response.status_code == 308
    assert response.headers["location"] == "/workspace/alpha/"


@pytest.mark.parametrize(
    ("path", "lands_on"),
    [
        ("/workspace/alpha", "/workspace/alpha/"),
        (
            "/workspace/alpha?folder=/home/dev/project",
            "/workspace/alpha/?folder=/home/dev/project",
        ),
        (
            "/workspace/alpha?folder=%2Fhome%2Fdev%2Fmy%20project&ew=true",
            "/workspace/alpha/?folder=%2Fhome%2Fdev%2Fmy%20project&ew=true",
        ),
        ("/workspace/alpha/port/8081?tab=2", "/workspace/alpha/port/8081/?tab=2"),
    ],
)
async def test_a_deep_link_keeps_its_query_across_the_slash_redirect(
    caddy: RunningCaddy, routes: CaddyRouteTable, path: str, lands_on: str
) -> None:
    """``/workspace/NAME?folder=...`` opens that folder: the redirect must not drop the query.

    The Location is resolved against the request's URL as a browser does (RFC 3986), so the
    test holds whether Caddy answers with a relative or an absolute reference.
    """
    await routes.add("alpha", "127.0.0.11")
    url = caddy.base_url + path
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.request.url.raw_path.decode() == path, "sent byte for byte"
    assert response.status_code == 308
    assert urljoin(url, response.headers["location"]) == caddy.base_url + lands_on


async def test_an_unknown_workspace_gets_a_clear_html_404(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    async with httpx.AsyncClient(base_url=caddy.base_url) as http:
        response = await http.get("/workspace/nobody/")
        root = await http.get("/")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No such workspace" in response.text and "nobody" in response.text
    assert root.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/workspace/alpha/../beta/",
        "/workspace/alpha/%2e%2e/beta/",
        "/workspace//beta/",
        "/workspace/alpha/./x",
        "/workspace/alpha/..%2fbeta/",
    ],
)
async def test_dot_segments_never_cross_from_one_workspace_to_another(
    caddy: RunningCaddy, routes: CaddyRouteTable, path: str
) -> None:
    async with upstream("127.0.0.12", caddy.upstream_port):
        await routes.add("beta", "127.0.0.12")
        status, body = await raw_get(caddy.base_url, path)
    assert status == 400
    assert "127.0.0.12" not in body


async def test_adding_an_existing_route_is_a_no_op_and_a_new_address_replaces_it(
    routes: CaddyRouteTable,
) -> None:
    assert await routes.add("alpha", "127.0.0.11") is True
    assert await routes.add("alpha", "127.0.0.11") is False
    assert await routes.add("alpha", "127.0.0.13") is True
    assert await routes.list() == {"alpha": "127.0.0.13"}


async def test_removing_a_missing_route_is_a_clear_not_found(routes: CaddyRouteTable) -> None:
    with pytest.raises(NotFoundError, match="no route for workspace 'ghost'"):
        await routes.remove("ghost")


async def test_bad_names_and_addresses_never_reach_caddy(routes: CaddyRouteTable) -> None:
    for name, address in [("../x", "10.0.0.1"), ("ok", "10.0.0.1/8"), ("ok", "{http.vars.x}")]:
        with pytest.raises(InvalidInputError):
            await routes.add(name, address)
    assert await routes.list() == {}


async def test_an_applied_route_plan_leaves_exactly_the_planned_routes(
    routes: CaddyRouteTable,
) -> None:
    await routes.add("old", "127.0.0.20")
    await routes.add("b", "127.0.0.29")
    plan = RoutePlan(
        add={"a": Route("127.0.0.21")}, change={"b": Route("127.0.0.22")}, remove=("old",)
    )
    await apply_route_plan(routes, plan)
    assert await routes.list() == {"a": "127.0.0.21", "b": "127.0.0.22"}


async def test_an_open_websocket_survives_other_workspaces_route_changes(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    """Other workspaces come and go (files, not a reload); open terminals must not notice."""
    async with upstream("127.0.0.11", caddy.upstream_port):
        await routes.add("alpha", "127.0.0.11")
        url = caddy.base_url.replace("http://", "ws://") + "/workspace/alpha/terminal"
        async with websockets.connect(url) as socket:
            await socket.send("before")
            assert await socket.recv() == "127.0.0.11:before"
            for i in range(10):
                await routes.add(f"other-{i}", f"127.0.1.{i + 1}")
                await routes.remove(f"other-{i}")
                await socket.send(f"during-{i}")
                assert await asyncio.wait_for(socket.recv(), 5) == f"127.0.0.11:during-{i}"
            await apply_route_plan(routes, RoutePlan(add={"gamma": Route("127.0.0.30")}))
            await socket.send("after")
            assert await asyncio.wait_for(socket.recv(), 5) == "127.0.0.11:after"


async def test_routes_survive_a_caddy_restart(caddy: RunningCaddy, routes: CaddyRouteTable) -> None:
    await routes.add("alpha", "127.0.0.11")
    caddy.process.stop()
    caddy.process.start()
    admin = CaddyAdmin.over_unix_socket(caddy.options.admin_socket)
    await wait_until_serving(admin)
    assert await ensure_base_config(admin, caddy.options) is False
    assert await CaddyRouteTable(caddy.options.routes_dir).list() == {"alpha": "127.0.0.11"}
    await admin.aclose()


async def test_a_forwarded_port_reaches_the_dev_server_with_its_prefix_stripped(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    await routes.add("alpha", "127.0.0.11")
    async with upstream("127.0.0.11", 8081), httpx.AsyncClient(base_url=caddy.base_url) as http:
        page = (await http.get("/workspace/alpha/port/8081/app/index.html?x=1")).json()
        bare = await http.get("/workspace/alpha/port/8081")
        url = caddy.base_url.replace("http://", "ws://") + "/workspace/alpha/port/8081/hmr"
        async with websockets.connect(url) as socket:
            await socket.send("reload")
            echoed = await socket.recv()
    assert (page["path"], page["host"]) == ("/app/index.html?x=1", "127.0.0.11")
    assert bare.status_code == 308
    assert bare.headers["location"] == "/workspace/alpha/port/8081/"
    assert echoed == "127.0.0.11:reload"


@pytest.mark.parametrize("port", ["9000", "8080", "22", "8086", "abc"])
async def test_a_port_outside_the_allowed_range_is_refused(
    caddy: RunningCaddy, routes: CaddyRouteTable, port: str
) -> None:
    await routes.add("alpha", "127.0.0.11")
    async with httpx.AsyncClient(base_url=caddy.base_url) as http:
        response = await http.get(f"/workspace/alpha/port/{port}/")
    assert response.status_code == 404
    assert "Port not forwarded" in response.text


async def test_a_port_nobody_listens_on_gets_a_clear_page_quickly(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    await routes.add("alpha", "127.0.0.11")
    async with httpx.AsyncClient(base_url=caddy.base_url, timeout=10) as http:
        response = await http.get("/workspace/alpha/port/8085/")
    assert response.status_code == 502
    assert "Nothing is answering" in response.text


async def test_a_request_waits_for_a_workspace_that_is_coming_up_instead_of_failing(
    caddy: RunningCaddy, routes: CaddyRouteTable
) -> None:
    """Nothing listens yet when the request comes (an IDE restarting, a host under load):
    Caddy tries again for a few seconds instead of answering 502."""
    await routes.add("alpha", "127.0.0.11")

    async def listen_later() -> str:
        await asyncio.sleep(1.0)
        async with upstream("127.0.0.11", caddy.upstream_port):
            await asyncio.sleep(3.0)
        return "done"

    later = asyncio.create_task(listen_later())
    async with httpx.AsyncClient(base_url=caddy.base_url, timeout=10) as http:
        response = await http.get("/workspace/alpha/late")
    await later
    assert response.status_code == 200, response.text[:200]
    assert response.json()["path"] == "/late"


async def test_an_older_configs_map_routes_are_carried_into_the_routes_directory(
    tmp_path: Path,
) -> None:
    """A Caddy still running a version-4 config (routes in a map) keeps its workspaces."""
    async with private_caddy(tmp_path) as (caddy, routes):
        admin = CaddyAdmin.over_unix_socket(caddy.options.admin_socket)
        legacy = config.base_config(caddy.options)
        server = legacy["apps"]["http"]["servers"][config.SERVER_NAME]
        server.pop("@id")
        server["routes"] = [
            {
                "handle": [
                    {
                        "handler": "map",
                        "@id": config.LEGACY_MAP_ID,
                        "source": "{http.request.uri.path}",
                        "destinations": ["{tidepool.upstream}", "{tidepool.owner}"],
                        "mappings": [{"input": "alpha", "outputs": ["127.0.0.11", "ann"]}],
                    }
                ]
            }
        ]
        await admin.load(legacy)
        assert await routes.list() == {}

        assert await ensure_base_config(admin, caddy.options) is True
        assert await routes.entries() == {"alpha": Route("127.0.0.11", "ann")}
        await admin.aclose()
