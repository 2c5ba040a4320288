"""A ``serve`` with Tidepool's own sign-in (``auth = "forward_auth"``) and users of its own,
and a browser page signed in on its web app: what the web app's browser tests stand on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from playwright.async_api import Page, expect

from support.serve import ServeProcess, running_serve
from support.users import write_users


@contextlib.contextmanager
def serve_with_users(
    data: Path,
    passwords: Mapping[str, str],
    prefix: str,
    extra_env: Mapping[str, str] = {},
    admins: frozenset[str] = frozenset(),
) -> Iterator[ServeProcess]:
    data.mkdir(parents=True)
    write_users(data / "users.json", passwords, admins)
    env = {"TIDEPOOL_AUTH": "forward_auth", **extra_env}
    with running_serve(
        data, f"sqlite:///{data / 'tidepool.db'}", prefix=prefix, extra_env=env
    ) as serve:
        yield serve


async def sign_in(page: Page, base_url: str, user: str, password: str) -> None:
    """Sign ``user`` in on the web app's page, as a person does, and land on the app."""
    await page.goto(f"{base_url}/app/")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base_url}/app/")
