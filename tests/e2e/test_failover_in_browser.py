"""Two edges on one PostgreSQL behind a load balancer: the one a browser signed in through
dies, host and all (its ``serve`` and its Caddy), and the other answers.

Chromium signs in on the web app and opens a workspace's IDE through the first edge. Both
are SIGKILLed; the page, reloaded, is still signed in (the session is the database's), shows
the workspace, and opens its IDE again through the second edge: its Caddy already routes the
workspace (it follows the database), and its handshake gives the browser a grant of its own
from the shared session, without a sign-in.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from support.balancer import balancer
from support.databases import database_url
from support.edges import two_edges
from support.ports import free_port
from support.serve import ServeProcess, wait_for_status
from support.users import write_users

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
NAME = "edgy"
PREFIX = "tpv"
START_TIMEOUT = 120_000


@pytest.fixture
def edges(tmp_path: Path) -> Iterator[tuple[ServeProcess, ServeProcess, int]]:
    """Two edges for one public address (the balancer's port), one installation."""
    url = database_url("postgresql", tmp_path)
    front = free_port()
    env = {"TIDEPOOL_AUTH": "forward_auth", "TIDEPOOL_PUBLIC_URL": f"http://localhost:{front}"}
    with two_edges(tmp_path, url, PREFIX, env) as (first, second):
        write_users(first.data_dir / "users.json", {USER: PASSWORD}, frozenset())
        yield first, second, front


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    yield await context.new_page()
    await context.close()


async def open_ide(page: Page, origin: str) -> None:
    workspace = page.locator(f'.workspace[data-name="{NAME}"]')
    await expect(workspace.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)
    async with page.context.expect_page() as opened:
        await workspace.get_by_role("link", name=f"Open {NAME} in VS Code").click()
    ide = await opened.value
    await ide.locator(".monaco-workbench").wait_for(timeout=90_000)
    assert ide.url.startswith(f"http://{NAME}.localhost:{origin}/"), ide.url
    await ide.close()


async def test_a_browser_keeps_working_when_the_edge_it_signed_in_through_dies(
    edges: tuple[ServeProcess, ServeProcess, int], page: Page
) -> None:
    first, second, front = edges
    async with balancer(front, [first.port, second.port]):
        first.start()
        second.start()
        async with first.api(user=USER) as api:
            await api.create(NAME)
            await wait_for_status(api, NAME, {"running"})
        base = f"http://localhost:{front}"
        await page.goto(f"{base}/app/")
        await page.get_by_label("User name").fill(USER)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{base}/app/")
        await open_ide(page, str(front))

        first.kill()
        first.signal_caddy(signal.SIGKILL)
        await page.reload()
        await expect(page).to_have_url(f"{base}/app/")
        await expect(page.locator("#who")).to_have_text(f"Signed in as {USER}")
        await open_ide(page, str(front))
        grants = second.data_dir / "caddy" / "grants"
        assert any(grants.rglob("*")), "the second edge's handshake gave the browser a grant"
        async with second.api() as api:
            assert (await api.get(NAME))["status"] == "running"
