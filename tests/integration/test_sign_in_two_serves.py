"""Two ``tidepool serve`` on one PostgreSQL, each with its own data directory and Caddy, as
behind a team's load balancer: a browser signed in through one keeps working through the
other, even once the first is killed; a token minted on one works on the other; a revocation
and a sign-out through one are refused by the other within the promise (docs/security.md).

The users file sits in the first host's data directory only, as after the SQLite days: its
start takes it into the database. The PostgreSQL is a schema of its own of the test server
(``TIDEPOOL_TEST_POSTGRES_URL``), so other tests' databases are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from support.browserlike import browserlike_client
from support.ports import free_port
from support.serve import ServeProcess
from support.users import write_users
from tidepool.edge import SESSION_COOKIE
from tidepool.store.urls import sync_url

pytestmark = [pytest.mark.caddy, pytest.mark.incus]
PASSWORDS = {"alice": "alice-password", "root": "root-password"}
#: A revocation or sign-out through one serve is refused through another within this.
REFUSED_WITHIN = 2.0


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    base = os.environ.get("TIDEPOOL_TEST_POSTGRES_URL")
    assert base, "TIDEPOOL_TEST_POSTGRES_URL is unset: run ./scripts/postgres (scripts/test does)"
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(sync_url(base), poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


async def sign_in(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    response = await http.post("/api/auth/login", json={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def seconds_until_refused(http: httpx.AsyncClient, headers: dict[str, str]) -> float:
    started = time.monotonic()
    while (await http.get("/api/me", headers=headers)).status_code != 401:
        assert time.monotonic() - started < 10, "never refused"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_sign_in_tokens_and_revocation_hold_across_two_serves(tmp_path: Path) -> None:
    with postgres_schema() as url:
        first, second = tmp_path / "a", tmp_path / "b"
        first.mkdir()
        write_users(first / "users.json", PASSWORDS, frozenset({"root"}))
        a = ServeProcess(first, free_port(), url, "tpa")
        b = ServeProcess(second, free_port(), url, "tpb")
        for serve in (a, b):
            serve.extra_env = {"TIDEPOOL_AUTH": "forward_auth"}
        a.start()
        try:
            b.start()
            try:
                async with (
                    browserlike_client(base_url=a.base_url) as via_a,
                    browserlike_client(base_url=b.base_url) as via_b,
                ):
                    assert (first / "users.json.moved-to-database").exists()
                    csrf = await sign_in(via_a, "alice")
                    via_b.cookies.set(SESSION_COOKIE, via_a.cookies[SESSION_COOKIE])
                    me = await via_b.get("/api/me", headers=csrf)
                    assert me.status_code == 200 and me.json()["name"] == "alice", me.text

                    # A token minted through b works through a; revoked through a, b refuses.
                    minted = await via_b.post("/api/tokens", json={"label": "ci"}, headers=csrf)
                    assert minted.status_code == 201, minted.text
                    token = {"Authorization": f"Bearer {minted.json()['token']}"}
                    assert (await via_a.get("/api/me", headers=token)).status_code == 200
                    assert (await via_b.get("/api/me", headers=token)).status_code == 200
                    revoked = await via_a.delete(f"/api/tokens/{minted.json()['id']}", headers=csrf)
                    assert revoked.status_code == 200, revoked.text
                    assert await seconds_until_refused(via_b, token) <= REFUSED_WITHIN

                    # The serve she signed in through dies: the other one still knows her.
                    a.kill()
                    assert (await via_b.get("/api/me", headers=csrf)).status_code == 200
                    # Signed out through b, then a (back again) refuses the cookie.
                    a.start()
                    assert (await via_a.get("/api/me", headers=csrf)).status_code == 200
                    out = await via_b.post("/api/auth/logout", headers=csrf)
                    assert out.status_code == 204, out.text
                    assert await seconds_until_refused(via_a, csrf) <= REFUSED_WITHIN
            finally:
                b.stop()
        finally:
            if a.process is not None and a.process.poll() is None:
                a.stop()
