"""The web app's idle-timeout panel in a real browser against a real `tidepool serve` (sign-in
on, users may choose from 10 minutes to 4 hours): a choice is saved and shown, one outside the
bounds is refused with the API's reason and leaves what was typed, and "Use the default" gives
the installation's back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from support.serve import ServeProcess
from support.signed_in_web import serve_with_users, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("idle-web") / "data"
    bounds = {"TIDEPOOL_IDLE_TIMEOUT_USER_MAX_MINUTES": "240"}
    with serve_with_users(data, {USER: PASSWORD}, "tpi", bounds) as serve:
        yield serve


@pytest.fixture
async def page(web: ServeProcess, browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await sign_in(page, web.base_url, USER, PASSWORD)
    yield page
    await context.close()


async def test_choose_refuse_and_forget_an_idle_timeout(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    panel = page.locator("#idle-card")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#idle-state")).to_have_text(
        "Your workspaces take the default: 30 min (or their template's)."
    )
    await expect(panel.locator("#idle-bounds")).to_have_text("From 10 min to 4 h.")

    await panel.get_by_label("Minutes").fill("90")
    await panel.get_by_role("button", name="Save").click()
    await expect(panel.locator("#idle-state")).to_have_text(
        "Your workspaces stop after 1 h 30 min without activity."
    )
    shown = await (await page.context.request.get(f"{web.base_url}/api/me/idle-timeout")).json()
    assert shown["minutes"] == 90

    await panel.get_by_label("Minutes").fill("5")
    await panel.get_by_role("button", name="Save").click()
    await expect(panel.get_by_role("alert")).to_contain_text("10 to 240 minutes")
    await expect(panel.get_by_label("Minutes")).to_have_value("5")
    await page.screenshot(path=artifacts / "app-idle-timeout-refused.png")
    shown = await (await page.context.request.get(f"{web.base_url}/api/me/idle-timeout")).json()
    assert shown["minutes"] == 90

    await panel.get_by_role("button", name="Use the default").click()
    await expect(panel.locator("#idle-state")).to_contain_text("take the default")
    await expect(panel.get_by_role("button", name="Use the default")).to_be_hidden()
