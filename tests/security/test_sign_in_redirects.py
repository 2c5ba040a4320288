"""The sign-in page as an open redirect, played by an attacker who crafts the ``next`` link.

A link to ``/app/login/?next=...`` is sent to a user; after they sign in, the page sends the
browser wherever the API's answer says. Every trick that makes a browser read ``next`` as
another site (tabs and newlines it drops, backslashes it reads as slashes, ``@`` userinfo,
protocol-relative ``//``, schemes such as ``javascript:``) must come back as the web app,
and never echoed. What is allowed comes back as the browser would open it. A cross-check
runs every case through Node's URL parser (the URL Standard's, as in browsers) when Node is
installed. The hostile values are strings: nothing is ever fetched.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from support.shapes import SHAPES, Shape, shaped_browser, shaped_serve
from support.users import write_users
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.destinations import HOME, Site, parse_destination, safe_destination
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.domain.origins import WorkspaceAddresses
from tidepool.domain.workspace import Workspace
from tidepool.edge import VIA_HEADER
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

MAIN = "tidepool.test:8080"
WORKSPACE_DOMAIN = "ws.example.test"
ADDRESSES = WorkspaceAddresses(f"http://{MAIN}", WORKSPACE_DOMAIN, forward_ports=(8081,))
SITE = Site(hosts=frozenset({MAIN}), workspaces=ADDRESSES)
#: Workspace origins: ann's forwarded port and IDE, and bob's port (ann may not open it).
ANNS_HOST = "8081--anns.ws.example.test"
ANNS = f"{ANNS_HOST}:8080"
ANNS_IDE = "anns.ws.example.test:8080"
BOBS = "8081--bobs.ws.example.test:8080"
PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "root": "root-password"}

#: Each of these takes a browser off Tidepool (or somewhere ann may not go): the web app.
HOSTILE = [
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\r\n/evil.example/",
    "\t//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "\\/evil.example/",
    "//evil.example/",
    "///evil.example/",
    "//\\//evil.example/",
    " //evil.example/",
    "\x00\x01\x1f //evil.example/",
    "/..//evil.example/",
    "/app/../..//evil.example/",
    "http://evil.example/",
    "HTTPS://EVIL.EXAMPLE/",
    "http:evil.example",
    "https:evil.example",
    "http:/\\evil.example/",
    "https:\\\\evil.example\\",
    "http:\t//evil.example/",
    "http://evil.example:8080/",
    "http://tidepool.test:8081/",
    "https://tidepool.test.evil.example:8080/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " java\tscript:alert(document.cookie)",
    "\x00javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ws://tidepool.test:8080/",
    "tidepool.test:8080/app/",
    "http://tidepool.test:8080@evil.example/",
    "http://evil.example@tidepool.test:8080/app/",
    "http://evil.example\\@tidepool.test:8080/",
    f"http://evil.example\\@{ANNS}/",
    f"http://evil.example#@{ANNS}/",
    f"http://evil.example?@{ANNS}/",
    f"//evil.example\\@{ANNS}/",
    "http://evil%2eexample/",
    "//evil\uff0eexample/",
    f"http://{ANNS_HOST}\uff0eevil.example:8080/",
    f"http://{ANNS_HOST}.evil.example:8080/",
    f"http://{ANNS_HOST}.:8080/",
    f"http://{BOBS}/",
    f"https://{BOBS}/x",
    f"//{BOBS}/",
    "http://8081--nobodys.ws.example.test:8080/",
    "http://8081--anns.other.example.test:8080/",
    "http://99999--anns.ws.example.test:8080/",
    "http://9999--anns.ws.example.test:8080/",  # a port that is not forwarded
    f"https://{ANNS}/",  # another scheme is another origin
    f"http://{ANNS_HOST}:9999/",  # and so is another port
    f"http://{ANNS_HOST}/",
    f"//{ANNS}/x",  # protocol-relative: the page's scheme decides, so it reads two ways
    f"ftp://{ANNS}/",
    f"http://{ANNS_HOST}:99999/",
    f"http://{ANNS_HOST}:80x/",
    "http://0x7f.0.0.1:8080/",
    "http://[::1]:8080/",
    "http://",
    "http:///",
    "http://evil.example@",
    "",
    " \t\n",
]

#: Pages of Tidepool ann may open, and what the browser opens for each.
ALLOWED = [
    ("/app/", "/app/"),
    ("/app/?x=1#y", "/app/?x=1#y"),
    ("/workspace/alpha/", "/workspace/alpha/"),
    ("/workspace/anns/?folder=/home/dev", "/workspace/anns/?folder=/home/dev"),
    ("/%2f%2fevil.example/", "/%2f%2fevil.example/"),
    ("/%5C%5Cevil.example/", "/%5C%5Cevil.example/"),
    ("/\uff0f/evil.example/", "/%EF%BC%8F/evil.example/"),
    ("/app/../workspace/alpha/", "/workspace/alpha/"),
    ("/app/%2e%2E/workspace/./alpha/.", "/workspace/alpha/"),
    ("/app\\workspace\\", "/app/workspace/"),
    ("  /app/\n", "/app/"),
    ("/ap\tp/", "/app/"),
    ('/app/a b"<>`', "/app/a%20b%22%3C%3E%60"),
    ("/app/?q=a b'#f g", "/app/?q=a%20b%27#f%20g"),
    ("workspace/alpha/", "/app/login/workspace/alpha/"),
    ("http://tidepool.test:8080/app/?x=1", "/app/?x=1"),
    ("HTTP://TIDEPOOL.TEST:8080/app/", "/app/"),
    (f"http://{ANNS}/", f"http://{ANNS}/"),
    (f"http://{ANNS}/x?y=1", f"http://{ANNS}/x?y=1"),
    (f"http://{ANNS}", f"http://{ANNS}/"),
    ("http://8081--ANNS.WS.Example.Test:8080/", f"http://{ANNS}/"),
    (f"http://{ANNS_IDE}/?folder=/home/dev", f"http://{ANNS_IDE}/?folder=/home/dev"),
]

#: Where a browser would land on an allowed page, but only by a reading that depends on the
#: page's own scheme or on the browser's host parser: refused, which costs nothing.
CAUTIOUS = [
    f"http:\\\\{ANNS}\\x",
    "http:/app/",
    "http://tidepool%2etest:8080/",
    "http://tidepool\u3002test:8080/",
    "http://ann@tidepool.test:8080/app/",
]


async def anns_workspaces(name: str) -> bool:
    return name == "anns"


@pytest.mark.parametrize("asked", HOSTILE + CAUTIOUS)
async def test_a_hostile_next_comes_back_as_the_web_app(asked: str) -> None:
    assert await safe_destination(asked, SITE, anns_workspaces) == HOME


@pytest.mark.parametrize(("asked", "opened"), ALLOWED)
async def test_a_page_of_tidepool_comes_back_as_the_browser_opens_it(
    asked: str, opened: str
) -> None:
    assert await safe_destination(asked, SITE, anns_workspaces) == opened


def test_the_table_has_the_cases_the_issue_asks_for() -> None:
    assert len(HOSTILE) >= 15
    for trick in ["\t", "\n", "\r", "\\", "@", "//", "///", "javascript:", "JaVaScRiPt:"]:
        assert any(trick in asked for asked in HOSTILE), trick
    assert any(asked.startswith("data:") for asked in HOSTILE)
    assert any(BOBS in asked for asked in HOSTILE)


def test_a_workspace_origin_is_parsed_out_for_the_workspace_check() -> None:
    found = parse_destination(f"http://{BOBS}/x", SITE)
    assert found is not None and found.workspace == "bobs"
    assert parse_destination("/app/", SITE) == parse_destination(f"http://{MAIN}/app/", SITE)
    assert parse_destination(f"http://{ANNS}/", Site(hosts=frozenset({MAIN}))) is None


# --- the browser's own reading ------------------------------------------------------------

NODE = shutil.which("node")
_READ_IN_NODE = """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const read = (s, base) => { try { return new URL(s, base).href; } catch (e) { return null; } };
process.stdout.write(JSON.stringify(cases.map(([s, base]) => read(s, base))));
"""


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_what_is_allowed_is_where_a_browser_goes(scheme: str) -> None:
    """Node's ``URL`` is the URL Standard's parser, as browsers have it. For every case:
    what we allow is exactly where the browser lands; what we refuse would either leave the
    main host or lands where we would have refused anyway (the check is never fooled)."""
    assert NODE is not None, "Node.js is needed to read URLs as a browser does (this kind has it)"
    base = f"{scheme}://{MAIN}/app/login/?next=x"
    asked = HOSTILE + CAUTIOUS + [a for a, _ in ALLOWED]
    ours = [await safe_destination(a, SITE, anns_workspaces) for a in asked]
    pairs = [[a, base] for a in asked] + [[o, base] for o in ours]
    result = await asyncio.to_thread(
        subprocess.run,
        [NODE, "-e", _READ_IN_NODE],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    read = json.loads(result.stdout)
    browser, answered = read[: len(asked)], read[len(asked) :]
    for a, ours_, lands, ours_lands in zip(asked, ours, browser, answered, strict=True):
        if ours_ != HOME and ours_.startswith("/") and not ours_.startswith("//"):
            # A main-host page is answered as a path: it keeps the page's own scheme.
            assert _after_scheme(ours_lands) == _after_scheme(lands), (a, ours_, lands)
        elif ours_ != HOME:
            assert ours_lands == lands, (a, ours_, lands)
        assert ours_lands is not None
        assert _host(ours_lands) in {MAIN, ANNS, ANNS_IDE}, (a, ours_lands)


def _after_scheme(href: str | None) -> str:
    return (href or "").split("//", 1)[-1]


def _host(href: str) -> str:
    return _after_scheme(href).split("/", 1)[0]


# --- through the API ----------------------------------------------------------------------


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"root"}))
    auth = Authenticator(
        users=users,
        sessions=SessionStore(tmp_path / "sessions.json"),
        tokens=TokenStore(tmp_path / "tokens.json"),
        limiter=SignInLimiter(),
    )
    store = memory_store()[0]
    await store.add(Workspace(name="anns", owner="ann", image="img"))
    await store.add(Workspace(name="bobs", owner="bob", image="img"))
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        f"http://{MAIN}",
        admins=users.admins,
        authenticator=auth,
        addresses=ADDRESSES,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{MAIN}", headers={VIA_HEADER: "caddy"}
    ) as client:
        yield client


async def sign_in(http: httpx.AsyncClient, name: str, asked: str) -> httpx.Response:
    answer = await http.post(
        "/api/auth/login", json={"name": name, "password": PASSWORDS[name], "next": asked}
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"name", "csrf_token", "next"}
    return answer


async def signed_in_next(http: httpx.AsyncClient, name: str, asked: str) -> str:
    next_: str = (await sign_in(http, name, asked)).json()["next"]
    return next_


@pytest.mark.parametrize("asked", HOSTILE + CAUTIOUS)
async def test_sign_in_refuses_a_hostile_next_and_never_echoes_it(
    http: httpx.AsyncClient, asked: str
) -> None:
    answer = await sign_in(http, "ann", asked)
    assert answer.json()["next"] == HOME
    for part in ("evil", "bobs", "nobodys", "javascript", "script", "%2e", "\u3002"):
        assert part not in answer.text.lower()


@pytest.mark.parametrize(("asked", "opened"), ALLOWED)
async def test_sign_in_sends_ann_where_she_may_go(
    http: httpx.AsyncClient, asked: str, opened: str
) -> None:
    assert await signed_in_next(http, "ann", asked) == opened


async def test_an_admin_may_be_sent_to_anyones_workspace_and_nobody_to_a_missing_one(
    http: httpx.AsyncClient,
) -> None:
    assert await signed_in_next(http, "root", f"http://{BOBS}/x") == f"http://{BOBS}/x"
    assert await signed_in_next(http, "bob", f"http://{BOBS}/x") == f"http://{BOBS}/x"
    assert await signed_in_next(http, "bob", f"http://{ANNS}/x") == HOME
    assert await signed_in_next(http, "root", "http://8081--gone.ws.example.test:8080/") == HOME


#: What the browser test signs in with: one of each kind of trick.
IN_A_BROWSER = [HOSTILE[i] for i in (0, 4, 5, 8, 12, 15, 17, 19)]


@pytest.mark.incus
@pytest.mark.caddy
@pytest.mark.e2e
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
async def test_in_a_browser_a_hostile_next_lands_on_the_web_app_and_a_workspace_opens(
    tmp_path: Path, shape: Shape
) -> None:
    """Chromium signs bob in from crafted links, in each shape a team serves Tidepool in:
    each hostile ``next`` lands on the web app; his own workspace's address opens his IDE
    (through the handshake, which asks for the session's proof where cookies can be
    planted)."""
    passwords = {"bob": "bob-pw-22"}
    async with (
        shaped_serve(tmp_path, shape, passwords, frozenset()) as at,
        shaped_browser(shape) as browser,
    ):
        context = await browser.new_context(**shape.context_options)
        page = await context.new_page()
        ide = f"{at.origin('bobs')}/?folder=/home/dev"
        for asked, lands in [*((a, f"{at.main}/app/") for a in IN_A_BROWSER), (ide, ide)]:
            await page.goto(f"{at.main}/app/login/?next={quote(asked, safe='')}")
            await page.get_by_label("User name").fill("bob")
            await page.get_by_label("Password").fill(passwords["bob"])
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(lands)
            assert urlsplit(page.url).hostname in (shape.host, f"bobs.{shape.host}"), asked
        await context.close()
        async with at.serve.api() as api:
            assert [w["name"] for w in (await api.list())["items"]] == ["bobs"]
