"""API tokens Caddy admits from its token map, played against a real ``tidepool serve``.

Bob's scripts reach his workspace's origin with an API token. After the first request the
control plane has taught Caddy the token, so Caddy admits it without asking; the attacker
tries what that cache could leak:

- alice's own token, cached too, still opens only alice's workspaces (404 for bob's);
- bob's token id with a made-up secret is never taken for his token;
- a token revoked through the API is refused at once (the answer is sent, then Caddy forgets),
  and so is one revoked by root's CLI (which tells Caddy itself);
- every token of a removed user is dropped within ``TOKEN_SWEEP_SECONDS`` and a little.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from support.cli import tidepool
from support.shapes import SHAPES, ShapedServe, shaped_serve
from support.users import write_users
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.sessions import CaddyTokenMap
from tidepool.auth.token_cache import TOKEN_SWEEP_SECONDS
from tidepool.auth.tokens import TokenStore
from tidepool.edge import USER_HEADER
from tidepool.loopback import LoopbackNames
from tidepool.retry import RetryingTransport

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}
LOCALHOST = SHAPES[0]
#: What a revocation through the API may take to reach Caddy (a config change).
AT_ONCE = 1.0


async def status(http: httpx.AsyncClient, url: str, token: str) -> int:
    response = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def taught(served: ShapedServe, token_id: str) -> bool:
    """Whether Caddy's token map holds the token now."""
    admin = CaddyAdmin.over_unix_socket(served.serve.caddy_admin_socket)
    try:
        return token_id in await CaddyTokenMap(admin).known()
    finally:
        await admin.aclose()


async def until_refused(http: httpx.AsyncClient, url: str, token: str, within: float) -> float:
    """Seconds until a request with ``token`` is refused (401), failing after ``within``."""
    started = time.monotonic()
    while (code := await status(http, url, token)) != 401:
        assert code not in (404, 502), code
        assert time.monotonic() - started < within, f"still admitted after {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_cached_tokens_admit_only_their_owner_and_are_dropped_when_revoked(
    tmp_path: Path,
) -> None:
    async with shaped_serve(tmp_path, LOCALHOST, PASSWORDS, frozenset({"root"})) as served:
        tokens = TokenStore(served.serve.data_dir / "tokens.json")
        by_api, _ = tokens.create("bob", label="by-api")
        by_cli, _ = tokens.create("bob", label="by-cli")
        of_alice, _ = tokens.create("alice", label="alices")
        ids = {
            name: token.split("_")[1]
            for name, token in (("api", by_api), ("cli", by_cli), ("alice", of_alice))
        }
        bobs = served.origin("bobs") + "/"
        # A script's client that sends a GET again when the connection it was on closed under
        # it (as browsers and ``tidepool.retry`` do): teaching Caddy a token is a config
        # change, and a request that came on a kept-alive connection just then was cut.
        transport = LoopbackNames(RetryingTransport())
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            for token in (by_api, by_cli):
                assert await status(http, bobs, token) not in (401, 403, 404)
            assert await status(http, bobs, of_alice) == 404, "not hers"
            deadline = time.monotonic() + 10
            while not all([await taught(served, ids[n]) for n in ("api", "cli", "alice")]):
                assert time.monotonic() < deadline, "Caddy was never taught the tokens"
                await asyncio.sleep(0.1)

            # Now from Caddy's map: the owner check still holds, a guessed secret is nothing.
            assert await status(http, bobs, by_api) not in (401, 403, 404)
            assert await status(http, bobs, of_alice) == 404, "a cached token is owner-checked"
            forged = f"tpt_{ids['api']}_{'A' * 43}"
            assert await status(http, bobs, forged) == 401

            # Revoked through the API (bob over the control plane's socket, as the CLI does).
            api = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=str(served.serve.api_socket)),
                base_url="http://tidepool",
                headers={USER_HEADER: "bob"},
            )
            async with api:
                answer = await api.delete(f"/api/tokens/{ids['api']}")
                assert answer.status_code == 200, answer.text
            assert await until_refused(http, bobs, by_api, AT_ONCE) < AT_ONCE

            # Revoked by root's CLI, which tells Caddy itself.
            revoked = tidepool("token", "revoke", ids["cli"], env=served.serve.env())
            assert revoked.returncode == 0, revoked.stdout + revoked.stderr
            assert await until_refused(http, bobs, by_cli, AT_ONCE) < AT_ONCE

            # alice removed from the users file: her cached token goes too.
            write_users(
                served.serve.data_dir / "users.json",
                {n: p for n, p in PASSWORDS.items() if n != "alice"},
                frozenset({"root"}),
            )
            alices = served.origin("nothing-of-hers") + "/"
            deadline = time.monotonic() + TOKEN_SWEEP_SECONDS + 2
            while await taught(served, ids["alice"]):
                assert time.monotonic() < deadline, "a removed user's token stayed in Caddy"
                await asyncio.sleep(0.1)
            assert await status(http, alices, of_alice) == 401
