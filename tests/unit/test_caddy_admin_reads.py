"""Caddy's admin client when a config change cuts its connection: a read is asked again, a
change is not (it may have been applied), against a stand-in transport."""

from __future__ import annotations

import httpx
import pytest

from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.errors import ProxyError


def cut_once(error: type[httpx.TransportError]) -> tuple[httpx.MockTransport, list[str]]:
    """A transport whose first request dies with ``error``; each later one answers ``{}``."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise error("cut by a config load", request=request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(answer), seen


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError])
async def test_a_read_cut_by_a_config_load_is_asked_again_and_a_change_is_not(
    error: type[httpx.TransportError],
) -> None:
    transport, seen = cut_once(error)
    admin = CaddyAdmin(httpx.AsyncClient(transport=transport, base_url="http://localhost"))
    assert await admin.get("/id/tidepool-tokens/mappings") == {}
    assert seen == ["GET", "GET"]

    transport, seen = cut_once(error)
    admin = CaddyAdmin(httpx.AsyncClient(transport=transport, base_url="http://localhost"))
    with pytest.raises(ProxyError, match="cut by a config load"):
        await admin.post("/id/tidepool-tokens/mappings", {"@id": "x"})
    assert seen == ["POST"]
