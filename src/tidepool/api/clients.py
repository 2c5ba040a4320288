"""Where a request came from, as the audit log and the sign-in limits count it."""

from __future__ import annotations

from fastapi import Request

from tidepool.edge import CLIENT_HEADER


def client_address(request: Request) -> str:
    """The browser's address. Caddy sets ``CLIENT_HEADER`` from the connection it accepted,
    replacing anything the client sent; a request straight to the API has its own peer (or
    none, on the unix socket, which only the host itself may open). ``X-Forwarded-For`` is
    not read: which of its entries a client could write depends on proxies we do not see."""
    sent = request.headers.get(CLIENT_HEADER, "").strip()
    if sent:
        return sent
    return request.client.host if request.client and request.client.host else "local"
