"""The web app in a real browser against a real `tidepool serve` with ``auth = forward_auth``.

Sign in on the sign-in page, create a workspace and watch it reach `running` live
(server-sent events, no polling), open the IDE, stop it, start it, delete it (typing the name
to confirm), sign out. Each page is saved as a screenshot in test-artifacts/. (Basic auth is
the browser's own prompt; its rules are tested through a real Caddy in tests/integration.)
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, expect

from support.browserlike import browserlike_client
from support.serve import ServeProcess, wait_for_status
from support.signed_in_web import serve_with_users
from tidepool import bootstrap
from tidepool.auth.tokens import TokenStore
from tidepool.client import ApiClient
from tidepool.errors import NotFoundError
from tidepool.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
OTHER, OTHER_PASSWORD = "bob", "bob-password-1"
START_TIMEOUT = 120_000
#: Kept warm (one instance): the create below takes it, and an admin sees the pool.
SMALL = {
    "name": "small",
    "description": "One CPU",
    "cpus": 1,
    "memory_mib": 1024,
    "pool_size": 1,
}
ADMIN, ADMIN_PASSWORD = "root", "root-password-1"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("web") / "data"
    users = {USER: PASSWORD, OTHER: OTHER_PASSWORD, ADMIN: ADMIN_PASSWORD}
    with serve_with_users(
        data, users, "tpw", {"TIDEPOOL_TEMPLATES": json.dumps([SMALL])}, frozenset({ADMIN})
    ) as serve:
        yield serve


async def sign_in(page: Page, base_url: str, user: str, password: str) -> None:
    await page.goto(f"{base_url}/app/")
    await expect(page).to_have_url(f"{base_url}/app/login/?next=/app/")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base_url}/app/")


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    yield await context.new_page()
    await context.close()


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.workspace[data-name="{name}"]')


async def test_without_signing_in_the_app_refuses(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    api = await page.context.request.get(f"{web.base_url}/api/workspaces")
    assert api.status == 401
    # A path URL leads to the workspace's origin, which sends the browser through the
    # handshake on the main host, which asks for a sign-in first.
    await page.goto(f"{web.base_url}/workspace/anything/")
    handshake = quote(
        f"/api/auth/handshake?to=http%3A%2F%2Fanything.localhost%3A{web.port}%2F", safe=""
    )
    await expect(page).to_have_url(f"{web.base_url}/app/login/?next={handshake}")
    await page.get_by_label("User name").fill(USER)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.screenshot(path=artifacts / "app-sign-in-failed.png")
    assert (await page.context.cookies()) == []


async def test_create_watch_open_stop_start_delete(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    await page.goto(f"{web.base_url}/app/")
    await page.screenshot(path=artifacts / "app-sign-in.png")
    await sign_in(page, web.base_url, USER, PASSWORD)
    await expect(page.locator("#who")).to_have_text(f"Signed in as {USER}")
    await expect(page.locator("#empty")).to_be_visible()
    await page.screenshot(path=artifacts / "app-empty.png")

    # A bad name is refused in the page, with a message read out to screen readers.
    await page.get_by_label("Name", exact=True).fill("Bad Name")
    await page.get_by_role("button", name="Create").click()
    await expect(page.locator("#create-error")).to_contain_text("lowercase letter first")

    await page.get_by_label("Name", exact=True).fill("webby")
    # The admin's templates are a list to pick from, each saying what it makes.
    await expect(page.get_by_label("Template")).to_have_value("default")
    await page.get_by_label("Template").select_option("small")
    await expect(page.locator("#template-help")).to_have_text("One CPU · 1 CPU, 1 GiB memory")
    await page.get_by_role("button", name="Create").click()
    workspace = row(page, "webby")
    await expect(workspace).to_be_visible()
    await expect(workspace.locator(".phases li").first).to_be_visible(timeout=START_TIMEOUT)
    await page.screenshot(path=artifacts / "app-starting.png")
    await expect(workspace.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)
    await page.screenshot(path=artifacts / "app-running.png")
    made = await (await page.context.request.get(f"{web.base_url}/api/workspaces/webby")).json()
    assert (made["template"], made["cpus"], made["memory_mib"]) == ("small", 1, 1024)

    async with page.context.expect_page() as opened:
        await workspace.get_by_role("link", name="Open webby in VS Code").click()
    ide = await opened.value
    await ide.locator(".monaco-workbench").wait_for(timeout=90_000)
    assert ide.url.startswith(f"http://webby.localhost:{web.port}/"), "its own origin"
    # Named in its tab, cold or taken from the warm pool (template `small` keeps one).
    await expect(ide).to_have_title(re.compile(r"\bwebby\b.*Tidepool"), timeout=30_000)
    await ide.screenshot(path=artifacts / "app-ide.png")
    await ide.close()

    await workspace.get_by_role("button", name="Stop webby").click()
    await expect(workspace.locator(".status")).to_have_text("stopped", timeout=START_TIMEOUT)
    await expect(workspace.get_by_role("link", name="Open webby in VS Code")).to_have_attribute(
        "aria-disabled", "true"
    )
    await page.screenshot(path=artifacts / "app-stopped.png")
    await workspace.get_by_role("button", name="Start webby").click()
    await expect(workspace.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)

    await workspace.get_by_role("button", name="Delete webby").click()
    dialog = page.locator("#confirm-delete")
    await expect(dialog).to_be_visible()
    confirm = dialog.get_by_role("button", name="Delete")
    await expect(confirm).to_be_disabled()
    await dialog.get_by_label("Workspace name").fill("webby")
    await page.screenshot(path=artifacts / "app-confirm-delete.png")
    await confirm.click()
    await expect(workspace).to_have_count(0, timeout=START_TIMEOUT)
    await expect(page.locator("#empty")).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{web.base_url}/app/login/")
    await page.goto(f"{web.base_url}/app/")
    await expect(page).to_have_url(f"{web.base_url}/app/login/?next=/app/")


async def test_admins_see_the_warm_pools_and_users_do_not(
    web: ServeProcess, browser: Browser, artifacts: Path
) -> None:
    for name, password, shown in ((ADMIN, ADMIN_PASSWORD, True), (OTHER, OTHER_PASSWORD, False)):
        context = await browser.new_context(viewport={"width": 1100, "height": 800})
        page = await context.new_page()
        await sign_in(page, web.base_url, name, password)
        await expect(page.locator("#who")).to_have_text(f"Signed in as {name}")
        card = page.locator("#pools-card")
        if shown:
            await expect(card).to_be_visible()
            await expect(card.locator("li")).to_contain_text(
                "small: 1 of 1 ready", timeout=START_TIMEOUT
            )
            await page.screenshot(path=artifacts / "app-pools.png")
        else:
            await expect(page.locator("#tokens-card")).to_be_visible()
            await expect(card).to_be_hidden()
        await context.close()


async def test_the_app_fits_a_narrow_window(
    web: ServeProcess, browser: Browser, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 380, "height": 720})
    page = await context.new_page()
    await sign_in(page, web.base_url, USER, PASSWORD)
    await expect(page.get_by_role("button", name="Create")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, "no horizontal scrolling on a phone-sized window"
    await page.screenshot(path=artifacts / "app-narrow.png")
    await context.close()


async def test_a_dev_server_in_a_workspace_is_reachable_by_its_owner_only(
    web: ServeProcess,
) -> None:
    async with web.api(user=USER) as api:
        await api.create("devsrv")
        workspace = await wait_for_status(api, "devsrv", {"running", "failed"})
        assert workspace["status"] == "running", workspace
    async with bootstrap.opened_runtime(get_settings()) as runtime:
        instance = next(i.name for i in await runtime.list() if i.ipv4 == workspace["address"])
        await runtime.exec(instance, ["sh", "-c", "echo dev-server-page > /tmp/index.html"])
        await runtime.exec(
            instance,
            ["sh", "-c", "cd /tmp && nohup python3 -m http.server 8081 >/dev/null 2>&1 &"],
        )
        url = f"http://8081--devsrv.localhost:{web.port}/index.html"
        tokens = TokenStore(web.data_dir / "tokens.json")
        ann = {"Authorization": f"Bearer {tokens.create(USER)[0]}"}
        bob = {"Authorization": f"Bearer {tokens.create(OTHER)[0]}"}
        async with browserlike_client() as http:
            for _ in range(50):
                owner = await http.get(url, headers=ann)
                if owner.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            other = await http.get(url, headers=bob)
            nobody = await http.get(url)
    assert owner.status_code == 200 and owner.text.strip() == "dev-server-page"
    assert other.status_code == 404 and "dev-server-page" not in other.text
    assert nobody.status_code == 401
    async with web.api(user=USER) as api:
        await api.act("devsrv", "delete")
        await wait_until_gone(api, "devsrv")


async def wait_until_gone(api: ApiClient, name: str, timeout: float = 120) -> None:
    """Deleting is asynchronous: wait, so that no instance outlives the test's server."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            if (await api.get(name))["status"] == "deleted":
                return
        except NotFoundError:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} was not deleted in {timeout}s")


def test_no_password_session_or_token_reaches_the_logs(web: ServeProcess) -> None:
    """Runs after the others in this module: everything they sent is in these logs if any."""
    logs = web.log() + (web.data_dir / "caddy" / "caddy.log").read_text(errors="replace")
    sessions = (web.data_dir / "sessions.json").read_text()
    assert logs.strip(), "the logs are empty: nothing was checked"
    for secret in (PASSWORD, OTHER_PASSWORD, "not-the-password", "tpt_", "tidepool_session="):
        assert secret not in logs
    assert "tidepool_session" not in sessions and PASSWORD not in sessions
