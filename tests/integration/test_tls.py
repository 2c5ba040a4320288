"""TLS in a real Caddy: a certificate from Caddy's internal CA, and HTTP sent to HTTPS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from support.ports import free_port
from tidepool.adapters.caddy import config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, wait_until_serving

pytestmark = pytest.mark.caddy
DOMAIN = "tidepool.test"


async def https_get(port: int, path: str) -> str:
    """GET over TLS to 127.0.0.1 with SNI ``DOMAIN``; the status line."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the internal CA is not in this machine's trust store
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=DOMAIN
    )
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data.decode(errors="replace").split("\r\n", 1)[0]


async def test_internal_tls_serves_https_and_redirects_http(tmp_path: Path) -> None:
    http_port, https_port = free_port(), free_port()
    options = config.CaddyOptions(
        admin_socket=tmp_path / "admin.sock",
        storage_dir=tmp_path / "storage",
        listen=f"127.0.0.1:{http_port}",
        tls="internal",
        domain=DOMAIN,
        https_listen=f"127.0.0.1:{https_port}",
    )
    process = CaddyProcess(options, tmp_path)
    process.start()
    admin = CaddyAdmin.over_unix_socket(options.admin_socket)
    try:
        await wait_until_serving(admin)
        await admin.load(config.base_config(options))
        for _ in range(100):  # the internal CA issues the certificate right after the load
            try:
                status = await https_get(https_port, "/workspace/nobody/")
                break
            except (ssl.SSLError, ConnectionError):
                await asyncio.sleep(0.1)
        assert status == "HTTP/1.1 404 Not Found"
        root = tmp_path / "storage" / "pki" / "authorities" / "local" / "root.crt"
        assert root.exists(), "Caddy's internal CA made a root users can trust"
        verifier = ssl.create_default_context(cafile=str(root))
        _, writer = await asyncio.open_connection(
            "127.0.0.1", https_port, ssl=verifier, server_hostname=DOMAIN
        )
        writer.close()  # the certificate verifies against the internal root for DOMAIN
        async with httpx.AsyncClient() as http:
            plain = await http.get(
                f"http://127.0.0.1:{http_port}/app/?x=1", headers={"Host": DOMAIN}
            )
        assert plain.status_code == 308
        assert plain.headers["location"] == f"https://{DOMAIN}:{https_port}/app/?x=1"
    finally:
        await admin.aclose()
        process.stop()
