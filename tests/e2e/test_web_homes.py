"""Homes in the web app, in a real browser against a real `tidepool serve` with sign-in, on
real Incus: a workspace made in the app shows Rebuild, Fork and a Snapshots panel; a snapshot
taken there is listed as the user's (a name the API refuses shows the API's reason); a fork
made there reaches running; deleted, it comes back through "Bring back a deleted workspace",
which shows the API's reason for a name it cannot bring back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from support.serve import ServeProcess, delete_and_wait
from support.signed_in_web import serve_with_users, sign_in
from tidepool.errors import NotFoundError

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
SOURCE, FORK = "homed", "homed-fork"
START_TIMEOUT = 120_000


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serve_with_users(
        tmp_path_factory.mktemp("homes") / "data", {USER: PASSWORD}, "tpwh"
    ) as serve:
        yield serve


@pytest.fixture
async def page(web: ServeProcess, browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 1000})
    page = await context.new_page()
    await sign_in(page, web.base_url, USER, PASSWORD)
    yield page
    await context.close()


def row(page: Page, name: str) -> Locator:
    return page.locator(f'.workspace[data-name="{name}"]')


async def answer(page: Page, label: str, typed: str, confirm: str) -> None:
    """Type ``typed`` into the open home dialog's field ``label`` and confirm."""
    dialog = page.locator("#home-dialog")
    await dialog.get_by_label(label).fill(typed)
    await dialog.get_by_role("button", name=confirm).click()
    await expect(dialog).to_be_hidden()


async def test_snapshot_fork_delete_and_bring_back_through_the_app(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    try:
        await page.get_by_label("Name", exact=True).fill(SOURCE)
        await page.get_by_role("button", name="Create").click()
        source = row(page, SOURCE)
        await expect(source.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)
        # Made with its home on a volume, from its template's current image.
        await expect(source.get_by_role("button", name=f"Rebuild {SOURCE}")).to_be_enabled()
        await expect(source.locator(".home-later")).to_be_hidden()
        await expect(source.locator(".outdated")).to_be_hidden()

        # A rebuild asks first, saying what it keeps and what it replaces; cancelled, nothing.
        await source.get_by_role("button", name=f"Rebuild {SOURCE}").click()
        dialog = page.locator("#home-dialog")
        await expect(dialog).to_contain_text("Home (/home/dev) is kept")
        await expect(dialog).to_contain_text("everything outside home")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await expect(source.locator(".status")).to_have_text("running")

        panel = source.locator(".snapshots")
        await panel.locator("summary").click()
        await expect(panel.locator(".snapshots-empty")).to_be_visible()
        # A name the API refuses: its reason, beside the row.
        await panel.get_by_role("button", name=f"Take a snapshot of {SOURCE}").click()
        await answer(page, "Snapshot name", "auto-mine", "Take snapshot")
        await expect(source.locator(".home-error")).to_contain_text("not starting with 'auto-'")
        await panel.get_by_role("button", name=f"Take a snapshot of {SOURCE}").click()
        await answer(page, "Snapshot name", "first", "Take snapshot")
        taken = panel.locator('.snapshot-list li[data-snapshot="first"]')
        await expect(taken).to_contain_text("yours")
        await expect(source.locator(".home-error")).to_be_hidden()
        await expect(panel.locator(".snapshots-empty")).to_be_hidden()
        listed = await (
            await page.context.request.get(f"{web.base_url}/api/workspaces/{SOURCE}/snapshots")
        ).json()
        assert [s["name"] for s in listed["data"]] == ["first"]
        # A restore says what it does before it does it.
        await taken.get_by_role("button", name=f"Restore {SOURCE} from snapshot first").click()
        await expect(dialog).to_contain_text("stops")
        await expect(dialog).to_contain_text("auto-restore")
        await expect(dialog).to_contain_text("starts again")
        await dialog.get_by_role("button", name="Cancel").click()
        await page.screenshot(path=artifacts / "app-homes-snapshot.png", full_page=True)

        await source.get_by_role("button", name=f"Fork {SOURCE}").click()
        await answer(page, "New workspace name", FORK, "Fork")
        fork = row(page, FORK)
        await expect(fork.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)
        await expect(fork.get_by_role("button", name=f"Fork {FORK}")).to_be_visible()

        await fork.get_by_role("button", name=f"Delete {FORK}").click()
        confirm = page.locator("#confirm-delete")
        await confirm.get_by_label("Workspace name").fill(FORK)
        await confirm.get_by_role("button", name="Delete").click()
        await expect(fork).to_have_count(0, timeout=START_TIMEOUT)

        bring_back = page.locator("#undelete")
        await bring_back.get_by_label("Bring back a deleted workspace").fill("never-made")
        await bring_back.get_by_role("button", name="Bring back").click()
        await expect(bring_back.get_by_role("alert")).to_have_text(
            "No deleted workspace named 'never-made' to bring back."
        )
        await bring_back.get_by_label("Bring back a deleted workspace").fill(FORK)
        await bring_back.get_by_role("button", name="Bring back").click()
        await expect(bring_back.get_by_role("alert")).to_be_hidden()
        await expect(bring_back.get_by_role("status")).to_have_text(f"{FORK} is coming back.")
        await expect(fork.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)
        back = await (
            await page.context.request.get(f"{web.base_url}/api/workspaces/{FORK}")
        ).json()
        assert back["home_volume"] is True and back["owner"] == USER
        # Back already: the name is taken now, and the form says so.
        await bring_back.get_by_label("Bring back a deleted workspace").fill(FORK)
        await bring_back.get_by_role("button", name="Bring back").click()
        await expect(bring_back.get_by_role("alert")).to_have_text(
            f"A workspace named '{FORK}' exists already."
        )
        await expect(page.locator(".workspace")).to_have_count(2)
        await page.screenshot(path=artifacts / "app-homes-undeleted.png", full_page=True)
    finally:
        async with web.api(user=USER) as api:
            for name in (FORK, SOURCE):
                with contextlib.suppress(NotFoundError):
                    await delete_and_wait(api, name)
