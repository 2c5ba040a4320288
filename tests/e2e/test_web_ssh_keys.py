"""The web app's SSH hand-off in a real browser against a real `tidepool serve` (sign-in on).

The keys panel adds a key made by ``ssh-keygen`` (listed with the fingerprint
``ssh-keygen -l`` prints), refuses a malformed one and the same one twice with the API's
reason and without losing what was typed, and removes it; each workspace card shows
``ssh tidepool.NAME`` and the ``vscode://`` link that hands the workspace to desktop VS Code.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, expect

from support.serve import ServeProcess, delete_and_wait
from support.signed_in_web import serve_with_users, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
NAME = "keyed"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serve_with_users(
        tmp_path_factory.mktemp("keys") / "data", {USER: PASSWORD}, "tpk"
    ) as serve:
        yield serve


@pytest.fixture
async def page(web: ServeProcess, browser: Browser) -> AsyncIterator[Page]:
    """Signed in as ann, with keys.js arriving after the app's first answers (as it may on a
    slow network: the panel must still load)."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900})

    async def late(route: Route) -> None:
        await asyncio.sleep(1)
        await route.continue_()

    await context.route("**/app/keys.js", late)
    page = await context.new_page()
    await sign_in(page, web.base_url, USER, PASSWORD)
    yield page
    await context.close()


def keygen(directory: Path) -> tuple[str, str]:
    """A new ed25519 key's ``.pub`` line and its fingerprint as ``ssh-keygen -l`` prints it."""
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ann@laptop", "-f", str(key)],
        check=True,
    )
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True
    )
    return Path(f"{key}.pub").read_text().strip(), listed.stdout.split()[1]


async def test_add_refuse_and_remove_a_key(
    web: ServeProcess, page: Page, tmp_path: Path, artifacts: Path
) -> None:
    public_key, fingerprint = keygen(tmp_path)
    panel = page.locator("#keys-card")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#keys-empty")).to_be_visible()
    await expect(panel.locator("#config-ssh")).to_have_text(
        f"tidepool config-ssh --url {web.base_url}"
    )

    await panel.get_by_label("Public key").fill(public_key)
    await panel.get_by_label("Key name").fill("laptop")
    await panel.get_by_role("button", name="Add key").click()
    listed = panel.locator("#keys li")
    await expect(listed).to_have_count(1)
    await expect(listed.locator(".fingerprint")).to_have_text(fingerprint)
    await expect(listed).to_contain_text("laptop")
    await expect(listed).to_contain_text("ssh-ed25519")
    await expect(panel.get_by_label("Public key")).to_have_value("")
    await page.screenshot(path=artifacts / "app-ssh-key-added.png", full_page=True)

    # Refused: the API's reason is shown, and what was typed stays for correcting.
    malformed = "ssh-ed25519 not*base64 ann@laptop"
    await panel.get_by_label("Public key").fill(malformed)
    await panel.get_by_role("button", name="Add key").click()
    await expect(panel.get_by_role("alert")).to_have_text(
        "The ssh-ed25519 key is not valid base64."
    )
    await expect(panel.get_by_label("Public key")).to_have_value(malformed)
    await expect(listed).to_have_count(1)
    await page.screenshot(path=artifacts / "app-ssh-key-refused.png")
    await panel.get_by_label("Public key").fill(public_key)
    await panel.get_by_role("button", name="Add key").click()
    await expect(panel.get_by_role("alert")).to_contain_text("in use")
    await expect(panel.get_by_label("Public key")).to_have_value(public_key)
    await expect(listed).to_have_count(1)

    await listed.get_by_role("button", name="Remove key laptop").click()
    await expect(listed).to_have_count(0)
    await expect(panel.locator("#keys-empty")).to_be_visible()
    kept = await (await page.context.request.get(f"{web.base_url}/api/keys")).json()
    assert kept["items"] == []


async def test_a_token_may_be_made_for_ssh(page: Page) -> None:
    tokens = page.locator("#tokens-card")
    await tokens.get_by_label("Label").fill("for-ssh")
    await tokens.get_by_label("open workspaces over SSH").check()
    await tokens.get_by_role("button", name="Generate token").click()
    await expect(tokens.locator("#token-secret")).to_contain_text("tpt_")
    await expect(tokens.locator("#tokens li")).to_contain_text("for-ssh (ann) · read, ssh")


async def test_each_workspace_shows_its_ssh_command_and_vscode_link(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    async with web.api(user=USER) as api:
        await api.create(NAME)
        try:
            card = page.locator(f'.workspace[data-name="{NAME}"]')
            await expect(card.locator(".ssh-command")).to_have_text(f"ssh tidepool.{NAME}")
            link = card.get_by_role("link", name=f"{NAME}: open in VS Code")
            await expect(link).to_have_text("Open in VS Code")
            await expect(link).to_have_attribute(
                "href", f"vscode://vscode-remote/ssh-remote+tidepool.{NAME}/home/dev"
            )
            await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            copy = card.get_by_role("button", name=f"Copy the SSH command for {NAME}")
            await copy.click()
            await expect(copy).to_have_text("Copied")
            copied = await page.evaluate("navigator.clipboard.readText()")
            assert copied == f"ssh tidepool.{NAME}"
            await page.screenshot(path=artifacts / "app-ssh-command.png")
            # The card's SSH line and the keys panel fit a phone-sized window.
            await page.set_viewport_size({"width": 380, "height": 720})
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 380, "no horizontal scrolling on a phone-sized window"
        finally:
            await delete_and_wait(api, NAME)
