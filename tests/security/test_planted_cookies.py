"""A page a workspace serves plants its owner's session in its viewer's browser, on a real host.

The shape of a team's LAN: plain HTTP, the main host ``tp.test`` and workspaces under it
(``NAME.tp.test``, ``PORT--NAME.tp.test``), Chromium resolving those names to this machine.
Bob's dev server sets bob's own valid session cookie for the parent domain, with longer paths
than the main host's own cookie; admin alice opens that page, then goes back to the web app.
The API must never take her for bob, before or after she signs out and in again, and her own
session must go on working (the web app, opening a workspace).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from security.test_workspace_origins import PASSWORDS, WORKBENCH, open_dev_page, start_dev_server
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.users import write_users
from tidepool.edge import SESSION_COOKIE

pytestmark = [pytest.mark.incus, pytest.mark.caddy, pytest.mark.e2e]

DOMAIN = "tp.test"
#: The page bob's dev server serves: his session for the whole parent domain, at the main
#: host's API and app paths (sent before the host's own cookie there) and at ``/``.
PLANTING_PAGE = """<!doctype html><title>dev server</title><script>
for (const path of ["/api", "/app", "/"])
  document.cookie = `tidepool_session=BOBS; domain=DOMAIN; path=${path}; max-age=3600`;
window.planted = true;
</script>"""


@contextlib.asynccontextmanager
async def real_host_serve(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    """Sign-in on, the main host ``tp.test`` over plain HTTP, bob's workspace ``bobs``."""
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", PASSWORDS, frozenset({"alice"}))
    serve = ServeProcess(data, free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpk")
    serve.extra_env = {
        "TIDEPOOL_AUTH": "forward_auth",
        "TIDEPOOL_PUBLIC_URL": f"http://{DOMAIN}:{serve.port}",
    }
    serve.start()
    try:
        async with serve.api(user="bob") as api:
            await api.create("bobs")
            await wait_for_status(api, "bobs", {"running"})
        yield serve
    finally:
        try:
            async with serve.api() as api:
                await delete_and_wait(api, "bobs")
        finally:
            serve.stop()


@contextlib.asynccontextmanager
async def resolving_browser() -> AsyncIterator[Browser]:
    """Chromium with ``tp.test`` and every name under it on loopback (as a LAN's DNS would)."""
    rules = f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1, MAP *.{DOMAIN} 127.0.0.1"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules], headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def bobs_session(serve: ServeProcess) -> str:
    """Bob signs in from his own browser: the session cookie he will plant."""
    async with httpx.AsyncClient() as bob:
        answer = await bob.post(
            f"{serve.base_url}/api/auth/login", json={"name": "bob", "password": PASSWORDS["bob"]}
        )
        assert answer.status_code == 200, answer.text
        return answer.cookies[SESSION_COOKIE]


async def sign_in(page: Page, main: str) -> None:
    await page.goto(f"{main}/app/login/")
    await page.get_by_label("User name").fill("alice")
    await page.get_by_label("Password").fill(PASSWORDS["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{main}/app/")


async def api_me(page: Page, *, with_proof: bool) -> object:
    """Who ``/api/me`` names for this browser: the name, or the refusal's status."""
    proof = "sessionProof.get()" if with_proof else "''"
    return await page.evaluate(
        f"""fetch('/api/me', {{headers: {{'X-CSRF-Token': {proof}}}}})
            .then(r => r.ok ? r.json().then(j => j.name) : r.status)"""
    )


async def planted(context: BrowserContext, main: str) -> list[str]:
    cookies = await context.cookies(f"{main}/api/me")
    return [c["domain"] for c in cookies if c["name"] == SESSION_COOKIE and "." in c["domain"]]


async def test_a_planted_session_never_signs_alice_in_as_bob(tmp_path: Path) -> None:
    async with real_host_serve(tmp_path) as serve, resolving_browser() as browser:
        main = f"http://{DOMAIN}:{serve.port}"
        page_html = PLANTING_PAGE.replace("BOBS", await bobs_session(serve))
        await start_dev_server(serve, page_html.replace("DOMAIN", DOMAIN))
        context = await browser.new_context()
        page = await context.new_page()
        await sign_in(page, main)

        # Alice opens bob's page (through the handshake, as an admin may): it plants.
        attack = f"http://8081--bobs.{DOMAIN}:{serve.port}/attack.html"
        await open_dev_page(page, attack)
        await page.wait_for_function("window.planted === true")
        assert f".{DOMAIN}" in await planted(context, main), "the attack is in place"

        # Back in the web app, the API takes her for herself, and a cookie alone is no one.
        await page.goto(f"{main}/app/")
        await expect(page.locator("#who")).to_have_text("Signed in as alice")
        assert await api_me(page, with_proof=True) == "alice"
        assert await api_me(page, with_proof=False) == 401

        # Signed out, bob's cookie is all the browser holds: it is no one, never bob.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(f"{main}/app/login/")
        await page.goto(f"{main}/app/")
        await expect(page).to_have_url(f"{main}/app/login/?next=%2Fapp%2F")
        assert await api_me(page, with_proof=True) == 401
        assert await api_me(page, with_proof=False) == 401
        assert f".{DOMAIN}" in await planted(context, main), "bob's cookie is still there"

        # Signed in again: herself, and her session works, opening bob's IDE as the admin.
        await sign_in(page, main)
        await expect(page.locator("#who")).to_have_text("Signed in as alice")
        assert await api_me(page, with_proof=True) == "alice"
        ide = f"http://bobs.{DOMAIN}:{serve.port}/?folder=/home/dev"
        opened = await page.goto(ide)
        await expect(page).to_have_url(ide)
        assert opened is not None and WORKBENCH in await opened.text()
        await context.close()

        async with serve.api() as api:
            names = [w["name"] for w in (await api.list())["items"]]
            assert names == ["bobs"]
