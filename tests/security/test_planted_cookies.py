"""A page a workspace serves plants its owner's session in its viewer's browser, in every shape.

Bob's dev server sets bob's own valid session cookie for the parent domain, with longer paths
than the main host's own cookie (and under the ``__Host-`` name too); admin alice opens that
page, then goes back to the web app. The API must never take her for bob, before or after
she signs out and in again, and her own session must go on working (the web app, opening a
workspace). On a real host name over plain HTTP the browser accepts the planted cookie and
the API must see through it; on ``localhost`` Chromium refuses it and under TLS the
``__Host-`` prefix does: both asserted here, not assumed (``support.shapes``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from security.test_workspace_origins import (
    PASSWORDS,
    open_dev_page,
    sign_in_page,
    start_dev_server,
)
from support.shapes import SHAPES, Shape, ShapedServe, shaped_browser, shaped_serve
from tidepool.edge import SESSION_COOKIE

pytestmark = [pytest.mark.incus, pytest.mark.caddy, pytest.mark.e2e]

#: The page bob's dev server serves: his session for the whole parent domain, at the main
#: host's API and app paths (sent before the host's own cookie there) and at ``/``, under
#: both names a Tidepool session cookie can have.
PLANTING_PAGE = """<!doctype html><title>dev server</title><script>
for (const name of ["tidepool_session", "__Host-tidepool_session"])
  for (const path of ["/api", "/app", "/"])
    document.cookie = `${name}=BOBS; domain=DOMAIN; path=${path}; max-age=3600`;
window.planted = true;
</script>"""
SIGN_IN_AGAIN = re.compile(r"/app/login/\?next=(%2F|/)app(%2F|/)$")


async def api_me(page: Page, *, with_proof: bool) -> object:
    """Who ``/api/me`` names for this browser: the name, or the refusal's status."""
    proof = "sessionProof.get()" if with_proof else "''"
    return await page.evaluate(
        f"""fetch('/api/me', {{headers: {{'X-CSRF-Token': {proof}}}}})
            .then(r => r.ok ? r.json().then(j => j.name) : r.status)"""
    )


async def session_cookies(context: BrowserContext, at: ShapedServe) -> list[dict[str, object]]:
    """The session cookies the browser sends to the main host's API (its own and planted)."""
    cookies = await context.cookies(f"{at.main}/api/me")
    return [dict(c) for c in cookies if c["name"] == at.shape.cookie(SESSION_COOKIE)]


def planted(cookies: list[dict[str, object]]) -> list[dict[str, object]]:
    return [c for c in cookies if str(c["domain"]).startswith(".")]


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
async def test_a_planted_session_never_signs_alice_in_as_bob(tmp_path: Path, shape: Shape) -> None:
    async with (
        shaped_serve(tmp_path, shape, PASSWORDS, frozenset({"alice"})) as at,
        shaped_browser(shape) as browser,
    ):
        main = at.main
        bobs_browser = await browser.new_context(**shape.context_options)
        await sign_in_page(await bobs_browser.new_page(), main, "bob")
        (bobs,) = await session_cookies(bobs_browser, at)
        page_html = PLANTING_PAGE.replace("BOBS", str(bobs["value"]))
        await start_dev_server(at.serve, page_html.replace("DOMAIN", shape.host))

        context = await browser.new_context(**shape.context_options)
        page = await context.new_page()
        await sign_in_page(page, main, "alice")
        (own,) = await session_cookies(context, at)
        # Her own: host-only, for the whole host, script cannot read it; Secure and
        # ``__Host-`` exactly when the shape serves HTTPS.
        assert (own["domain"], own["path"], own["httpOnly"]) == (shape.host, "/", True)
        assert own["secure"] is shape.tls
        assert str(own["name"]).startswith("__Host-") is shape.tls

        # Alice opens bob's page (through the handshake, as an admin may): it plants what
        # the browser lets it. Only plain HTTP on a real name lets a usable one through.
        await open_dev_page(page, f"{at.origin('8081--bobs')}/attack.html")
        await page.wait_for_function("window.planted === true")
        usable = planted(await session_cookies(context, at))
        assert bool(usable) is (shape.host != "localhost" and not shape.tls), usable

        # Back in the web app, the API takes her for herself.
        await page.goto(f"{main}/app/")
        await expect(page.locator("#who")).to_have_text("Signed in as alice")
        assert await api_me(page, with_proof=True) == "alice"
        # A cookie alone counts only where none can be planted (under TLS).
        assert await api_me(page, with_proof=False) == ("alice" if shape.tls else 401)

        # Signed out, whatever was planted is all the browser holds: no one, never bob.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(f"{main}/app/login/")
        await page.goto(f"{main}/app/")
        await expect(page).to_have_url(SIGN_IN_AGAIN)
        assert await api_me(page, with_proof=True) == 401
        assert await api_me(page, with_proof=False) == 401
        assert planted(await session_cookies(context, at)) == usable, "the plant is still there"

        # Signed in again: herself, and her session works, opening bob's IDE as the admin.
        await sign_in_page(page, main, "alice")
        await expect(page.locator("#who")).to_have_text("Signed in as alice")
        assert await api_me(page, with_proof=True) == "alice"
        ide = f"{at.origin('bobs')}/?folder=/home/dev"
        await page.goto(ide)
        await expect(page).to_have_url(ide)
        await expect(page.locator(".monaco-workbench")).to_be_visible(timeout=30_000)
        await context.close()
        await bobs_browser.close()

        async with at.serve.api() as api:
            names = [w["name"] for w in (await api.list())["items"]]
            assert names == ["bobs"]
