"""Scoped tokens, the audit log and revocation, played against a real ``tidepool serve``.

``auth = "forward_auth"``, every request through the real Caddy on loopback. Alice signs in
on Tidepool's page and mints her own tokens through ``/api/tokens``: one that may only read,
one limited to a workspace she does not have, one with all her powers. The attacker holds the
narrow ones and tries to do more:

- the read token cannot stop her workspace (403, and it keeps running as asked);
- the limited token cannot see the workspace: not by name, not in the list, not in either
  event stream;
- the admin reads each attempt in the audit log, with the token and the client address;
- revoking the full token closes the ``/api/events`` stream it opened within 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from support.browserlike import browserlike_client
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait
from support.users import write_users

pytestmark = pytest.mark.caddy
PASSWORDS = {"alice": "alice-password", "root": "root-password"}
WORKSPACE = "victim"
#: What the issue allows between a revocation and the end of the streams it opened.
REVOCATION_SECONDS = 30


@contextlib.asynccontextmanager
async def serve_signed_in(tmp_path: Path, workspace: bool = True) -> AsyncIterator[ServeProcess]:
    """A serve with sign-in on and, if asked, alice's workspace (not waited for: nothing here
    needs it running). Afterwards the workspace is deleted and serve stopped, whatever
    happened (a serve left running deletes other runs' instances)."""
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", PASSWORDS, frozenset({"root"}))
    serve = ServeProcess(data, free_port(), f"sqlite:///{data / 'tidepool.db'}", "tpk")
    serve.extra_env = {"TIDEPOOL_AUTH": "forward_auth"}
    serve.start()
    try:
        if workspace:
            async with serve.api(user="alice") as api:
                await api.create(WORKSPACE)
        yield serve
    finally:
        try:
            if workspace:
                async with serve.api() as api:
                    await delete_and_wait(api, WORKSPACE)
        finally:
            serve.stop()


async def sign_in(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign in on Tidepool's page; the headers a change must carry with the session."""
    response = await http.post("/api/auth/login", json={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def mint(http: httpx.AsyncClient, csrf: dict[str, str], **body: object) -> tuple[str, str]:
    response = await http.post("/api/tokens", json=body, headers=csrf)
    assert response.status_code == 201, response.text
    return response.json()["token"], response.json()["id"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Stream:
    """An open ``/api/events`` stream, read in the background until it ends."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.lines: list[str] = []
        self.opened = asyncio.Event()
        self.ended_at: float | None = None
        self.task = asyncio.create_task(self._read(http, token))

    async def _read(self, http: httpx.AsyncClient, token: str) -> None:
        async with http.stream(
            "GET", "/api/events", headers=bearer(token), timeout=httpx.Timeout(10, read=None)
        ) as response:
            assert response.status_code == 200, await response.aread()
            self.opened.set()
            async for line in response.aiter_lines():
                self.lines.append(line)
        self.ended_at = time.monotonic()

    def saw(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)


@pytest.mark.incus
async def test_narrow_tokens_stay_narrow_and_the_audit_log_shows_each_attempt(
    tmp_path: Path,
) -> None:
    async with (
        serve_signed_in(tmp_path) as serve,
        browserlike_client(base_url=serve.base_url) as alice,
        browserlike_client(base_url=serve.base_url) as admin,
        browserlike_client(base_url=serve.base_url) as attacker,
    ):
        csrf = await sign_in(alice, "alice")
        read_token, read_id = await mint(alice, csrf, label="dashboard", scopes=["read"])
        limited_token, limited_id = await mint(
            alice, csrf, scopes=["read", "workspaces"], workspaces=["elsewhere"]
        )
        full_token, _ = await mint(alice, csrf, label="everything")

        # A read token sees the workspace but cannot stop it.
        seen = await attacker.get(f"/api/workspaces/{WORKSPACE}", headers=bearer(read_token))
        assert seen.status_code == 200
        stop = await attacker.post(f"/api/workspaces/{WORKSPACE}/stop", headers=bearer(read_token))
        assert stop.status_code == 403, stop.text
        assert stop.json()["detail"].startswith("This token may only read; it cannot stop")
        async with serve.api() as api:
            assert (await api.get(WORKSPACE))["desired"] == "running", "the stop did nothing"

        # A token limited to another workspace finds this one nowhere.
        limited = bearer(limited_token)
        hidden = await attacker.get(f"/api/workspaces/{WORKSPACE}", headers=limited)
        missing = await attacker.get("/api/workspaces/elsewhere", headers=limited)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"] == "No workspace named 'victim'."
        listed = (await attacker.get("/api/workspaces", headers=limited)).json()
        assert listed["items"] == [] and listed["total"] == 0
        events = await attacker.get(f"/api/workspaces/{WORKSPACE}/events", headers=limited)
        assert events.status_code == 404
        hidden_stop = await attacker.post(f"/api/workspaces/{WORKSPACE}/stop", headers=limited)
        assert hidden_stop.status_code == 404

        # Both live feeds open; a change to the workspace reaches the full one only.
        narrow, wide = Stream(attacker, limited_token), Stream(alice, full_token)
        await asyncio.wait_for(asyncio.gather(narrow.opened.wait(), wide.opened.wait()), 15)
        await asyncio.sleep(0.5)  # both streams past their first read of the event log
        stopped = await alice.post(f"/api/workspaces/{WORKSPACE}/stop", headers=csrf)
        assert stopped.status_code == 202, stopped.text
        deadline = time.monotonic() + 15
        while not wide.saw(f'"name": "{WORKSPACE}"'):
            assert time.monotonic() < deadline, f"the full token's feed got nothing: {wide.lines}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # many polls of the narrow stream's reads of the log
        assert not narrow.saw(WORKSPACE), narrow.lines
        narrow.task.cancel()
        wide.task.cancel()

        # The admin reads every attempt, each with its token and where it came from.
        await sign_in(admin, "root")
        log = await admin.get("/api/audit", params={"action": "workspace", "limit": 1000})
        assert log.status_code == 200, log.text
        attempts = {
            (e["action"], e["token"], e["outcome"]): e for e in log.json()["items"] if e["token"]
        }
        for action, token in [
            ("workspace.stop", read_id),
            ("workspace.read", limited_id),
            ("workspace.events", limited_id),
            ("workspace.stop", limited_id),
        ]:
            found = attempts.get((action, token, "denied"))
            assert found is not None, (action, token, log.json()["items"])
            assert found["actor"] == "alice" and found["target"] == WORKSPACE
            assert found["address"] == "127.0.0.1"
        assert "may only read" in attempts[("workspace.stop", read_id, "denied")]["detail"]
        tokens = (await admin.get("/api/audit", params={"action": "token.create"})).json()
        assert {e["target"] for e in tokens["items"]} >= {read_id, limited_id}
        # Alice, no admin, does not read the log.
        assert (await alice.get("/api/audit")).status_code == 403


async def test_revoking_a_token_closes_its_open_event_stream_within_30_seconds(
    tmp_path: Path,
) -> None:
    async with (
        serve_signed_in(tmp_path, workspace=False) as serve,
        browserlike_client(base_url=serve.base_url) as alice,
        browserlike_client(base_url=serve.base_url) as script,
    ):
        csrf = await sign_in(alice, "alice")
        token, token_id = await mint(alice, csrf, label="script")
        stream = Stream(script, token)
        await asyncio.wait_for(stream.opened.wait(), 15)
        await asyncio.sleep(1)
        assert not stream.task.done(), "the stream stays open while the token is good"
        revoked = await alice.delete(f"/api/tokens/{token_id}", headers=csrf)
        assert revoked.status_code == 200, revoked.text
        revoked_at = time.monotonic()
        await asyncio.wait_for(stream.task, REVOCATION_SECONDS)
        assert stream.ended_at is not None
        assert stream.ended_at - revoked_at < REVOCATION_SECONDS
        again = await script.get("/api/events", headers=bearer(token))
        assert again.status_code == 401, "and it cannot be opened again"
