"""A page of another origin cannot change anything through the visitor's browser.

Without sign-in, every page the visitor opens can reach ``localhost``; with basic auth the
browser sends the remembered password on its own. So a form another site posts, or a
``fetch`` it fires, must change nothing, in every sign-in mode. First the rule, through the
API in process; then for real: Debian's Chromium opens an attacker's page (on another port,
and on another host name) that posts a form to a running ``tidepool serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from security.test_workspace_origins import PASSWORDS, sign_in_page
from support.serve import serve_with_workspace
from support.shapes import SHAPES, Shape, shaped_browser, shaped_serve
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.edge import USER_HEADER
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

HOST = "tidepool.test:8080"
FOREIGN = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling host: a workspace's preview, another port
    {"Origin": "http://evil.example"},
    {"Origin": "http://tidepool.test:8081"},  # another port is another origin
    {"Origin": "null"},  # a sandboxed frame or a file
    {"Origin": "http://tidepool.test:8080@evil.example"},
]
OWN = [
    {},  # the CLI or a script: no browser headers, its own credentials
    {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{HOST}"},
    {"Sec-Fetch-Site": "none"},  # typed by the user in the address bar
]


@pytest.fixture(params=["none", "basic"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    store = memory_store()[0]
    basic = request.param == "basic"
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        f"http://{HOST}",
        auth=basic,
        admins=lambda: frozenset({"root"}),
    )
    headers = {"Host": HOST, **({USER_HEADER: "root"} if basic else {})}
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{HOST}", headers=headers
    ) as client:
        yield client


@pytest.mark.parametrize("foreign", FOREIGN)
async def test_a_foreign_page_changes_nothing(
    api: httpx.AsyncClient, foreign: dict[str, str]
) -> None:
    assert (await api.post("/api/workspaces", json={"name": "mine"})).status_code == 202
    for method, path, body in (
        ("POST", "/api/workspaces", {"name": "theirs"}),
        ("POST", "/api/workspaces/mine/stop", None),
        ("DELETE", "/api/workspaces/mine", None),
        ("POST", "/api/auth/login", {"name": "root", "password": "x"}),
    ):
        refused = await api.request(method, path, json=body, headers=foreign)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    listed = (await api.get("/api/workspaces", headers=foreign)).json()  # reading is fine
    assert [(w["name"], w["desired"]) for w in listed["items"]] == [("mine", "running")]


@pytest.mark.parametrize("own", OWN)
async def test_tidepools_own_pages_and_scripts_still_change_things(
    api: httpx.AsyncClient, own: dict[str, str]
) -> None:
    created = await api.post("/api/workspaces", json={"name": "mine"}, headers=own)
    assert created.status_code == 202
    stopped = await api.post("/api/workspaces/mine/stop", headers=own)
    assert stopped.status_code == 202 and stopped.json()["desired"] == "stopped"


# --- the same attack from a real browser against a real serve ---------------------------------


@contextlib.contextmanager
def attacker_site(page_html: str) -> Iterator[int]:
    """A web server on loopback serving one hostile page; yields its port."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.incus
@pytest.mark.caddy
@pytest.mark.e2e
async def test_a_cross_site_form_post_from_a_real_browser_changes_nothing(
    tmp_path: Path, browser: Browser
) -> None:
    database = f"sqlite:///{tmp_path / 'tp.db'}"
    async with serve_with_workspace(tmp_path / "data", database, "tpx", "victim") as serve:
        target = f"{serve.base_url}/api/workspaces/victim/stop"
        page_html = f"""<form method="POST" action="{target}"></form>
            <script>
              fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include"}});
              setTimeout(() => document.forms[0].submit(), 300);
            </script>"""
        with attacker_site(page_html) as port:
            context = await browser.new_context()
            page = await context.new_page()
            # Another port of the same host (same site), then another host name (cross site).
            for attacker in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/"):
                async with page.expect_navigation(url=target):
                    await page.goto(attacker)
                assert "Cross-origin request refused" in await page.content()
            await context.close()
        await asyncio.sleep(0.5)
        async with serve.api() as api:
            victim = await api.get("victim")
        assert (victim["desired"], victim["status"]) == ("running", "running")


@pytest.mark.incus
@pytest.mark.caddy
@pytest.mark.e2e
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
async def test_a_cross_site_form_post_changes_nothing_for_a_signed_in_owner(
    tmp_path: Path, shape: Shape
) -> None:
    """Bob signed in, in each shape a team serves Tidepool in; the attacker's page is on
    another port of the main host's name (same site), then on another name (cross site)."""
    async with (
        shaped_serve(tmp_path, shape, PASSWORDS, frozenset()) as at,
        shaped_browser(shape) as browser,
    ):
        target = f"{at.main}/api/workspaces/bobs/stop"
        page_html = f"""<form method="POST" action="{target}"></form>
            <script>
              fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include"}});
              setTimeout(() => document.forms[0].submit(), 300);
            </script>"""
        with attacker_site(page_html) as port:
            context = await browser.new_context(**shape.context_options)
            page = await context.new_page()
            await sign_in_page(page, at.main, "bob")
            for attacker in (f"http://{shape.host}:{port}/", f"http://127.0.0.1:{port}/"):
                async with page.expect_navigation(url=target):
                    await page.goto(attacker)
                assert "Cross-origin request refused" in await page.content()
            await context.close()
        await asyncio.sleep(0.5)
        async with at.serve.api() as api:
            bobs = await api.get("bobs")
        assert (bobs["desired"], bobs["status"]) == ("running", "running")
