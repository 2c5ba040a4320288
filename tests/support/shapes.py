"""The shapes a team serves Tidepool in, for the browser attacker tests to run in each.

- ``localhost``: the README's default (``http://localhost:PORT``, ``NAME.localhost``);
- a real host name over plain HTTP, as on a LAN (``http://tp.test:PORT``, ``NAME.tp.test``),
  where a workspace's page can set cookies for the parent domain;
- the same name under TLS from Caddy's internal CA (``https://tp.test:PORT``), where every
  Tidepool cookie carries ``__Host-``.

Chromium reaches ``tp.test`` and every name under it on loopback by a resolver rule, as a
LAN's DNS would send it to this machine; the internal CA is not trusted, so its contexts
ignore certificate errors (HTTPS is still HTTPS: ``Secure`` and ``__Host-`` apply).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_status
from support.users import write_users
from tidepool.edge import cookie_name

REAL_HOST = "tp.test"


@dataclass(frozen=True)
class Shape:
    """Where the main host is, and whether it serves HTTPS."""

    name: str
    host: str
    tls: bool = False

    def cookie(self, name: str) -> str:
        """``name`` as this shape's browser stores it (``__Host-`` under TLS)."""
        return cookie_name(name, self.tls)

    @property
    def chromium_args(self) -> list[str]:
        if self.host == "localhost":
            return list(CHROMIUM_ARGS)  # Chromium sends *.localhost to loopback itself
        rules = f"MAP {self.host} 127.0.0.1, MAP *.{self.host} 127.0.0.1"
        return [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]

    @property
    def context_options(self) -> dict[str, Any]:
        return {"ignore_https_errors": True} if self.tls else {}


SHAPES = (
    Shape("localhost", "localhost"),
    Shape("real-host-http", REAL_HOST),
    Shape("real-host-tls", REAL_HOST, tls=True),
)


@dataclass
class ShapedServe:
    """A ``serve`` in ``shape``: its URLs as a browser in that shape opens them."""

    serve: ServeProcess
    shape: Shape
    https_port: int

    @property
    def port(self) -> int:
        return self.https_port if self.shape.tls else self.serve.port

    @property
    def scheme(self) -> str:
        return "https" if self.shape.tls else "http"

    @property
    def main(self) -> str:
        return f"{self.scheme}://{self.shape.host}:{self.port}"

    def origin(self, label: str) -> str:
        return f"{self.scheme}://{label}.{self.shape.host}:{self.port}"

    def env(self) -> dict[str, str]:
        settings = {"TIDEPOOL_AUTH": "forward_auth", "TIDEPOOL_PUBLIC_URL": self.main}
        if self.shape.tls:
            settings |= {
                "TIDEPOOL_TLS": "internal",
                "TIDEPOOL_DOMAIN": self.shape.host,
                "TIDEPOOL_HTTPS_PORT": str(self.https_port),
            }
        return settings


@contextlib.asynccontextmanager
async def shaped_serve(
    tmp_path: Path, shape: Shape, passwords: dict[str, str], admins: frozenset[str]
) -> AsyncIterator[ShapedServe]:
    """Sign-in on, in ``shape``, with bob's workspace ``bobs`` running; cleaned up whatever
    happens."""
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", passwords, admins)
    serve = ServeProcess(data, free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpk")
    shaped = ShapedServe(serve, shape, free_port())
    serve.extra_env = shaped.env()
    serve.start()
    try:
        async with serve.api(user="bob") as api:
            await api.create("bobs")
            await wait_for_status(api, "bobs", {"running"})
        yield shaped
    finally:
        try:
            async with serve.api() as api:
                await delete_and_wait(api, "bobs")
        finally:
            serve.stop()


@contextlib.asynccontextmanager
async def shaped_browser(shape: Shape) -> AsyncIterator[Browser]:
    """Chromium that reaches ``shape``'s names as a team's browsers would."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=shape.chromium_args, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
