"""The vertical slice in a real browser: VS Code at /workspace/test/ through Caddy.

Opens the IDE, checks the explorer and the extensions view, runs a terminal command that
writes a file and an editor save, and reads both inside the container through the runtime.
While the terminal is open, another workspace's route is added and removed: the terminal's
WebSocket must stay open.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

from support.slice import Workspace, running_workspace
from tidepool.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.incus]

HOME = "/home/dev"
WORKBENCH_TIMEOUT = 90_000
#: The files these tests write in the home folder. They are removed before and after: the
#: workspace outlives the tests, and the explorer only draws the rows that fit on screen, so
#: files left by earlier runs would push a new one out of sight.
TEST_FILES = ("marker-*.txt", "from-terminal-*.txt", "after-reload-*.txt", "edit-me.txt")


async def remove_test_files(ws: Workspace) -> None:
    names = [arg for pattern in TEST_FILES for arg in ("-name", pattern, "-o")][:-1]
    await ws.runtime.exec(
        ws.instance, ["find", HOME, "-maxdepth", "1", "-type", "f", "(", *names, ")", "-delete"]
    )


@pytest.fixture(scope="module")
async def workspace() -> AsyncIterator[Workspace]:
    async with running_workspace(get_settings(), "test") as ws:
        await remove_test_files(ws)
        yield ws
        await remove_test_files(ws)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


async def read_in_container(ws: Workspace, path: str, timeout: float = 30) -> tuple[str, str]:
    """(owner, content) of a file inside the workspace, waiting for it to appear."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await ws.runtime.exec(ws.instance, ["stat", "-c", "%U", path])
        if result.ok:
            content = await ws.runtime.exec(ws.instance, ["cat", path])
            return result.stdout.strip(), content.stdout
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never appeared in the container: {result.stderr}")
        await asyncio.sleep(0.25)


async def type_in_terminal(page: Page, ws: Workspace, command: str, path: str) -> None:
    """Type ``command`` (which writes ``path``) into the open terminal, as a user would, and
    wait for its file. A shell that was not yet attached to the terminal drops what was typed
    (seen on a loaded machine): a user types it again, and so does this, at most three times.
    The command is idempotent, so a second run changes nothing."""
    for _ in range(3):
        await page.locator(".terminal-wrapper:visible").last.click()
        await page.keyboard.type(f"{command}\n")
        with contextlib.suppress(AssertionError):
            await read_in_container(ws, path, timeout=10)
            return
    raise AssertionError(f"the terminal never ran {command!r}")


async def run_command(page: Page, command: str) -> None:
    await page.keyboard.press("F1")
    palette = page.locator(".quick-input-widget input")
    await expect(palette).to_be_visible()
    await palette.fill(f">{command}")
    await page.locator(".quick-input-list .monaco-list-row").first.wait_for()
    await page.keyboard.press("Enter")


async def open_workbench(page: Page, ws: Workspace) -> None:
    await page.goto(ws.url)
    await page.locator(".monaco-workbench").wait_for(timeout=WORKBENCH_TIMEOUT)


async def test_workbench_explorer_extensions_terminal_and_editor(
    workspace: Workspace, page: Page, artifacts: Path
) -> None:
    marker = f"marker-{uuid.uuid4().hex[:8]}.txt"
    touch = ["sudo", "-u", "dev", "touch", f"{HOME}/{marker}"]
    await workspace.runtime.exec(workspace.instance, touch)
    sockets: list[WebSocket] = []

    def opened(socket: WebSocket) -> None:  # Playwright needs a function, not a bound builtin
        sockets.append(socket)

    page.on("websocket", opened)
    await open_workbench(page, workspace)
    assert page.url.startswith(workspace.url)

    # The explorer shows the home folder, with the file just made in it.
    explorer = page.locator(".explorer-folders-view")
    await expect(explorer).to_be_visible(timeout=30_000)
    await expect(explorer.get_by_text(marker)).to_be_visible(timeout=30_000)
    await page.screenshot(path=artifacts / "ide-explorer.png")

    # The extensions view opens.
    await run_command(page, "View: Show Extensions")
    await expect(page.locator(".extensions-viewlet")).to_be_visible(timeout=30_000)
    await page.screenshot(path=artifacts / "ide-extensions.png")

    # A terminal runs a command that writes a file, owned by the workspace user.
    await run_command(page, "Terminal: Create New Terminal")
    terminal = page.locator(".terminal-wrapper .xterm")
    await expect(terminal.first).to_be_visible(timeout=30_000)
    token = uuid.uuid4().hex
    path = f"{HOME}/from-terminal-{token}.txt"
    await type_in_terminal(page, workspace, f"echo {token} > {path}", path)
    owner, content = await read_in_container(workspace, path)
    assert owner == "dev"
    assert content.strip() == token
    await page.screenshot(path=artifacts / "ide-terminal.png")

    # Another workspace's route comes and goes: Caddy reloads, and the WebSockets that carry
    # the terminal (VS Code's connections to its server) stay open, not reconnected.
    open_before = [socket for socket in sockets if not socket.is_closed()]
    assert open_before, "the workbench opened no WebSocket"
    await workspace.routes.add("other-e2e", "10.213.77.250")
    await workspace.routes.remove("other-e2e")
    second = uuid.uuid4().hex
    path = f"{HOME}/after-reload-{second}.txt"
    await type_in_terminal(page, workspace, f"echo {second} > {path}", path)
    _, content = await read_in_container(workspace, path)
    assert content.strip() == second
    assert [socket.url for socket in open_before if socket.is_closed()] == []

    # A file edited and saved in the editor has that content inside the container.
    await workspace.runtime.exec(
        workspace.instance, ["sudo", "-u", "dev", "sh", "-c", f"echo original > {HOME}/edit-me.txt"]
    )
    await run_command(page, "Go to File...")
    palette = page.locator(".quick-input-widget input")
    await palette.fill("edit-me.txt")
    await page.locator(".quick-input-list .monaco-list-row").first.wait_for()
    await page.keyboard.press("Enter")
    editor = page.locator(".editor-group-container .monaco-editor .view-lines").first
    await expect(editor).to_contain_text("original", timeout=30_000)
    await editor.click()
    await page.keyboard.press("Control+A")
    saved = f"saved from the browser {uuid.uuid4().hex}"
    await page.keyboard.type(saved)
    await page.keyboard.press("Control+S")
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        owner, content = await read_in_container(workspace, f"{HOME}/edit-me.txt")
        if content.strip() == saved or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.25)
    assert content.strip() == saved
    assert owner == "dev"
    await page.screenshot(path=artifacts / "ide-editor.png")
