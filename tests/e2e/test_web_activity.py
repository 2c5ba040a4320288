"""Activity in the web app, in a real browser against a real ``tidepool serve``.

One workspace of ann's: its row says what keeps it up and when it stops if idle, warns when
the activity watch does (an idle warning a minute into idleness here) and drops the warning
once work runs in it; a keepalive is refused with the API's reason, set for 3h and ended. An
admin sees everyone's workspaces with their owners, under "All workspaces", and filters them
by owner; ann sees neither owners nor the filter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.signed_in_web import serve_with_users
from tidepool import bootstrap
from tidepool.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.incus]
USER, PASSWORD = "ann", "ann-password-1"
ADMIN, ADMIN_PASSWORD = "root", "root-password-1"
NAME = "busy"
START_TIMEOUT = 180_000
#: Looks every 2 s; warns after one idle minute and stops after two (a warning is at most
#: half the timeout), so the test sees a warning and then keeps the workspace busy.
ACTIVITY = {
    "TIDEPOOL_IDLE_TIMEOUT_MINUTES": "2",
    "TIDEPOOL_IDLE_WARNING_MINUTES": "1",
    "TIDEPOOL_ACTIVITY_INTERVAL_SECONDS": "2",
}
#: A terminal (a pty, as code-server's) running ``sleep 600``: someone's work.
SLEEPER = "setsid -f script -qfc 'sleep 600' /dev/null </dev/null >/dev/null 2>&1"
DEV = 1000
CLOCK = r"(\w{3} )?\d\d:\d\d"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("web-activity") / "data"
    users = {USER: PASSWORD, ADMIN: ADMIN_PASSWORD}
    with serve_with_users(data, users, "tpwa", ACTIVITY, frozenset({ADMIN})) as serve:
        yield serve


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    """Browser contexts on UTC, so that the page's clock times can be checked here."""
    made: list[BrowserContext] = []
    yield made
    for context in made:
        await context.close()


async def signed_in(
    contexts: list[BrowserContext], browser: Browser, base_url: str, user: str, password: str
) -> Page:
    context = await browser.new_context(
        viewport={"width": 1100, "height": 800}, timezone_id="UTC", locale="en-US"
    )
    contexts.append(context)
    page = await context.new_page()
    await page.goto(f"{base_url}/app/")
    await expect(page).to_have_url(f"{base_url}/app/login/?next=/app/")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base_url}/app/")
    await expect(page.locator("#who")).to_have_text(f"Signed in as {user}")
    return page


def row(page: Page, name: str) -> Locator:
    return page.locator(f'.workspace[data-name="{name}"]')


def minutes_apart(shown: str, iso: str) -> int:
    """How far the page's ``HH:MM`` (UTC) is from the API's time, in minutes."""
    at = datetime.fromisoformat(iso).astimezone(UTC)
    hours, minutes = (int(part) for part in shown.split(":"))
    apart = abs(hours * 60 + minutes - (at.hour * 60 + at.minute))
    return min(apart, 24 * 60 - apart)


async def test_activity_keepalive_and_owners(
    web: ServeProcess, browser: Browser, contexts: list[BrowserContext], artifacts: Path
) -> None:
    async with web.api(user=USER) as api:
        await api.create(NAME)
        try:
            made = await wait_for_status(api, NAME, {"running", "failed"})
            assert made["status"] == "running", made
            ann = await signed_in(contexts, browser, web.base_url, USER, PASSWORD)
            workspace = row(ann, NAME)
            await expect(workspace.locator(".status")).to_have_text("running")

            # Nothing runs in it yet: active as of its start, with an idle stop to come.
            now_line = workspace.locator(".activity-now")
            stop_line = workspace.locator(".activity-stop")
            await expect(now_line).to_have_text(
                re.compile(r"^Active: started, (just now|\d min ago)$"), timeout=30_000
            )
            await expect(stop_line).to_have_text(re.compile(rf"^Stops if idle at {CLOCK}$"))
            shown = (await stop_line.inner_text()).rsplit(" ", 1)[1]
            activity = (await api.get(NAME))["activity"]
            assert minutes_apart(shown, activity["idle_stop_at"]) <= 1, (shown, activity)
            # Not an admin: no owners, no filter, only their own.
            await expect(ann.get_by_role("heading", name="Your workspaces")).to_be_visible()
            await expect(workspace.locator(".owner")).to_be_hidden()
            await expect(ann.get_by_label("Owner")).to_be_hidden()

            # A minute idle: the watch warns, and the row says when it stops.
            warning = workspace.get_by_role("alert").filter(has_text="unless used")
            await expect(warning).to_have_text(
                re.compile(rf"^Stops at {CLOCK} unless used$"), timeout=120_000
            )
            await ann.screenshot(path=artifacts / "app-activity-idle-warning.png")
            # Work in a terminal: active again, and the warning goes.
            async with bootstrap.opened_runtime(get_settings()) as runtime:
                instance = next(i.name for i in await runtime.list() if i.ipv4 == made["address"])
                started = await runtime.exec(
                    instance, ["sh", "-c", SLEEPER], user=DEV, env={"HOME": "/home/dev"}
                )
                assert started.ok, started.stderr
            await expect(now_line).to_contain_text(
                re.compile(r"^Active: running work \(.*sleep 600.*\), just now"), timeout=60_000
            )
            await expect(warning).to_have_count(0)

            # A keepalive too long is refused with the API's reason; 3h is kept.
            await workspace.get_by_label(f"How long to keep {NAME} alive").fill("8d")
            await workspace.get_by_role(
                "button", name=f"Keep {NAME} alive for the time typed"
            ).click()
            refused = workspace.locator(".keepalive-error")
            await expect(refused).to_have_text(re.compile("at most 7 days"))
            await expect(refused).to_be_visible()
            await expect(workspace.get_by_role("alert")).to_have_count(1)
            await workspace.get_by_role("button", name=f"Keep {NAME} alive for 3h").click()
            await expect(stop_line).to_have_text(re.compile(rf"^Kept alive until {CLOCK}$"))
            await expect(refused).to_have_text("")
            until = (await api.get(NAME))["keepalive_until"]
            asked = datetime.now(UTC) + timedelta(hours=3)
            assert abs(datetime.fromisoformat(until) - asked) < timedelta(minutes=2), until
            shown = (await stop_line.inner_text()).rsplit(" ", 1)[1]
            assert minutes_apart(shown, until) == 0, (shown, until)
            await ann.screenshot(path=artifacts / "app-activity-kept-alive.png")
            end = workspace.get_by_role("button", name=f"End the keepalive of {NAME}")
            await end.click()
            await expect(stop_line).to_have_text(re.compile(rf"^Stops if idle at {CLOCK}$"))
            await expect(end).to_be_hidden()
            assert (await api.get(NAME))["keepalive_until"] is None

            # An admin sees everyone's, with owners, and narrows the list by owner.
            root = await signed_in(contexts, browser, web.base_url, ADMIN, ADMIN_PASSWORD)
            theirs = row(root, NAME)
            await expect(root.get_by_role("heading", name="All workspaces")).to_be_visible()
            await expect(theirs.locator(".owner")).to_have_text(f"Owner: {USER}")
            owner = root.get_by_label("Owner")
            await expect(owner).to_have_value("")
            options = await owner.locator("option").all_inner_texts()
            assert options == ["everyone", USER, ADMIN], options
            await owner.select_option(ADMIN)
            await expect(theirs).to_be_hidden()
            await expect(root.locator("#filtered-empty")).to_have_text(f"No workspaces of {ADMIN}.")
            await root.screenshot(path=artifacts / "app-activity-admin-filtered.png")
            await owner.select_option(USER)
            await expect(theirs).to_be_visible()
            await expect(root.locator("#filtered-empty")).to_be_hidden()
            await root.screenshot(path=artifacts / "app-activity-admin.png")
        finally:
            await delete_and_wait(api, NAME)
