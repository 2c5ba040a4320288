"""Cutting the proxy's open connections to a workspace, so a revoked grant stops working now.

Deleting a grant stops new requests at once, but a WebSocket opened before (a terminal, the
IDE's own channel) is one long request that Caddy keeps proxying. The kernel can close the
proxy's side of those: ``ss -K`` destroys the host's TCP sockets to the workspace's address
and port (``CONFIG_INET_DIAG_DESTROY``). Everyone's connections to that port go, not only the
revoked user's: the IDE reconnects on its own, through Caddy, where a valid grant lets the
others back in and the revoked one is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil

log = logging.getLogger(__name__)


async def cut_connections(address: str, port: int) -> bool:
    """Close this host's TCP connections to ``address:port``; False if it could not."""
    target = ipaddress.ip_address(address)
    if not 0 < port < 65536:
        raise ValueError(f"not a port: {port}")
    ss = shutil.which("ss")
    if ss is None:
        log.warning("ss (iproute2) is missing: open connections to %s:%d stay open", target, port)
        return False
    process = await asyncio.create_subprocess_exec(
        ss,
        "-K",
        "dst",
        str(target),
        "dport",
        "=",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        log.warning("could not close connections to %s:%d: %s", target, port, errors.decode())
        return False
    return True
