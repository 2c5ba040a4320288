"""A request naming a host this installation is not gets 421, before anything else sees it.

DNS rebinding: an attacker's name, pointed at this machine's address (loopback, even), must
reach nothing, not the API, the web app or a workspace. A real Caddy runs Tidepool's config;
one check also goes through a real ``tidepool serve`` as it is configured by default.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support.caddy import configured_caddy
from support.ports import free_port
from support.serve import ServeProcess
from tidepool.adapters.caddy.config import CaddyOptions

pytestmark = pytest.mark.caddy
FOREIGN = ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example"]


async def test_only_the_installations_own_hosts_are_served(tmp_path: Path) -> None:
    port = free_port()
    options = CaddyOptions(
        admin_socket=tmp_path / "admin.sock",
        storage_dir=tmp_path / "storage",
        listen=f"127.0.0.1:{port}",
        hosts=("127.0.0.1", "localhost", "tidepool.test"),
        workspace_domain="preview.test",
    )
    async with (
        configured_caddy(tmp_path, options, {}),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        for host in FOREIGN:
            for path in ("/api/health", "/app/", "/workspace/alpha/"):
                refused = await http.get(path, headers={"Host": host})
                assert refused.status_code == 421, (host, path, refused.text)
        nameless = await http.get("/api/health", headers={"Host": ""})
        assert nameless.status_code in (400, 421), "no Host is no host of ours either"
        for host in ("localhost", f"localhost:{port}", "tidepool.test", "8081--alpha.preview.test"):
            served = await http.get("/workspace/nobody/", headers={"Host": host})
            assert served.status_code == 404 and "No such workspace" in served.text, host


@pytest.mark.incus
async def test_a_default_serve_refuses_a_rebound_name(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tph")
    serve.start()
    try:
        async with httpx.AsyncClient(base_url=serve.base_url) as http:
            assert (await http.get("/api/health")).status_code == 200
            rebound = await http.get("/api/health", headers={"Host": f"evil.example:{serve.port}"})
            assert rebound.status_code == 421
            posted = await http.post(
                "/api/workspaces", json={"name": "x"}, headers={"Host": "evil.example"}
            )
            assert posted.status_code == 421
            listed = (await http.get("/api/workspaces")).json()
        assert listed["items"] == [], "nothing was created through the rebound name"
    finally:
        serve.stop()
