"""A workspace made from a repository in the web app, in a real browser against a real
`tidepool serve` with sign-in: the setup log shows the clone line by line while it runs, the
IDE opens on the cloned folder, a new terminal there has the dev container's environment,
and its forwarded port is a link. The dotfiles and git credentials panel keeps a secret
without ever showing it back. Git is served from a namespace of the test's own
(``support.git_server``), slowed so that the clone takes a few seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from support.git_server import GitServer, git_server
from support.serve import ServeProcess
from support.signed_in_web import serve_with_users, sign_in
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
SECRET = "Pa55-w0rd-tok3n"
#: How long each pack takes to come: the window in which the log shows a clone under way.
CLONE_DELAY = 6.0
START_TIMEOUT = 120_000
PREFIX = "tpsw"


@pytest.fixture(scope="module")
def git() -> Iterator[GitServer]:
    with git_server(delay=CLONE_DELAY) as server:
        yield server


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("setup-web") / "data"
    with serve_with_users(data, {USER: PASSWORD}, PREFIX) as serve:
        yield serve


@pytest.fixture
async def page(web: ServeProcess, browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 1000})
    page = await context.new_page()
    await sign_in(page, web.base_url, USER, PASSWORD)
    yield page
    await context.close()


async def terminal_says(ide: Page, workspace_id: str) -> str:
    """Type into the open terminal a command that writes ``$APP_MODE`` to a file, as a user
    would (again if a shell not yet attached dropped it), and read the file back."""
    runtime = build_runtime(Settings())
    instance = instance_name_for(PREFIX, workspace_id)
    try:
        for _ in range(3):
            await ide.locator(".terminal-wrapper:visible").last.click()
            await ide.keyboard.type('echo "mode=$APP_MODE" > /home/dev/mode.txt\n')
            for _ in range(40):
                done = await runtime.exec(instance, ["cat", "/home/dev/mode.txt"])
                if done.ok:
                    return done.stdout.strip()
                await asyncio.sleep(0.25)
        raise AssertionError("the terminal never ran the command")
    finally:
        await runtime.aclose()


def row(page: Page, name: str) -> Locator:
    return page.locator(f'.workspace[data-name="{name}"]')


async def test_the_setup_log_shows_the_clone_as_it_runs_and_the_ide_opens_on_it(
    web: ServeProcess, git: GitServer, page: Page, artifacts: Path
) -> None:
    repository = git.add(
        "webapp.git",
        {
            "README.md": "# The web app\n",
            "CLONED-MARKER": "x\n",
            ".devcontainer.json": (
                '{"forwardPorts": [8081], /* a comment */ '
                '"containerEnv": {"APP_MODE": "from-devcontainer"},}'
            ),
        },
    )
    await page.get_by_label("Name", exact=True).fill("fromrepo")
    await page.get_by_role("textbox", name="Repository (optional)").fill(repository)
    await page.get_by_role("button", name="Create").click()
    workspace = row(page, "fromrepo")
    await expect(workspace.locator(".status")).to_have_text("running", timeout=START_TIMEOUT)

    log = workspace.locator(".log")
    await log.locator("summary").click()
    text = log.locator(".log-text")
    # Under way: the clone has begun and not ended (the pack takes CLONE_DELAY seconds).
    await expect(text).to_contain_text("Cloning into", timeout=30_000)
    assert "Cloned into" not in (await text.text_content() or "")
    await page.screenshot(path=artifacts / "app-setup-log-cloning.png")
    await expect(text).to_contain_text("Cloned into /home/dev/webapp.", timeout=60_000)
    # The dev container's forwarded port, a link to it as soon as its setup records it.
    port = workspace.locator(".ports").get_by_role("link", name="Port 8081")
    await expect(port).to_be_visible(timeout=30_000)
    assert (await port.get_attribute("href") or "").endswith("/proxy/8081/")
    await page.screenshot(path=artifacts / "app-setup-log-cloned.png")

    async with page.context.expect_page() as opened:
        await workspace.get_by_role("link", name="Open fromrepo in VS Code").click()
    ide = await opened.value
    assert ide.url.endswith("?folder=/home/dev/webapp"), ide.url
    await ide.locator(".monaco-workbench").wait_for(timeout=90_000)
    explorer = ide.locator(".explorer-folders-view")
    await expect(explorer.get_by_text("CLONED-MARKER")).to_be_visible(timeout=60_000)
    await ide.screenshot(path=artifacts / "app-ide-on-clone.png")

    # A new terminal of the IDE has the dev container's environment.
    await ide.keyboard.press("F1")
    await ide.locator(".quick-input-widget input").fill(">Terminal: Create New Terminal")
    await ide.locator(".quick-input-list .monaco-list-row").first.wait_for()
    await ide.keyboard.press("Enter")
    await expect(ide.locator(".terminal-wrapper .xterm").first).to_be_visible(timeout=30_000)
    made = await (await page.context.request.get(f"{web.base_url}/api/workspaces/fromrepo")).json()
    assert await terminal_says(ide, made["id"]) == "mode=from-devcontainer"
    await ide.screenshot(path=artifacts / "app-ide-terminal-environment.png")
    await ide.close()

    await workspace.get_by_role("button", name="Delete fromrepo").click()
    dialog = page.locator("#confirm-delete")
    await dialog.get_by_label("Workspace name").fill("fromrepo")
    await dialog.get_by_role("button", name="Delete").click()
    await expect(workspace).to_have_count(0, timeout=START_TIMEOUT)


async def test_dotfiles_and_a_git_credential_are_set_and_the_secret_is_never_shown(
    web: ServeProcess, page: Page, artifacts: Path
) -> None:
    panel = page.locator("#personal-card")
    await expect(panel).to_be_visible()
    dotfiles = "https://git.example.test/ann/dotfiles.git"
    await panel.get_by_label("Dotfiles repository").fill(dotfiles)
    await panel.locator("#dotfiles-form").get_by_role("button", name="Save").click()
    await expect(panel.get_by_role("button", name="Clear")).to_be_visible()

    await panel.get_by_label("Git host").fill("git.example.test")
    await panel.get_by_label("User name").fill("a n")
    await panel.get_by_label("Password or access token").fill(SECRET)
    await panel.get_by_role("button", name="Add credential").click()
    await expect(panel.locator("#credential-error")).to_contain_text("git user name")
    await expect(panel.get_by_label("Git host")).to_have_value("git.example.test")
    await expect(panel.get_by_label("Password or access token")).to_have_value("")

    await panel.get_by_label("User name").fill("ann")
    await panel.get_by_label("Password or access token").fill(SECRET)
    await panel.get_by_role("button", name="Add credential").click()
    listed = panel.locator('#credentials li[data-host="git.example.test"]')
    await expect(listed).to_contain_text("as ann")
    await page.screenshot(path=artifacts / "app-personal.png")
    assert SECRET not in await page.content()
    shown = await (await page.context.request.get(f"{web.base_url}/api/me/dotfiles")).json()
    assert shown["url"] == dotfiles

    await listed.get_by_role(
        "button", name="Remove the git credential for git.example.test"
    ).click()
    await expect(listed).to_be_hidden()
    await panel.get_by_role("button", name="Clear").click()
    await expect(panel.get_by_label("Dotfiles repository")).to_have_value("")
