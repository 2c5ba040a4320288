"""The SSH tunnel: a WebSocket on the main host, ``/api/workspaces/NAME/ssh``, carried by Caddy.

Caddy first asks the control plane (``/api/workspaces/NAME/ssh/authorize``, the request's own
credentials, as it asks ``/api/auth/verify``): anything but a 2xx is the client's answer (a
401, someone else's workspace as a 404 like a missing one, a token without ``ssh`` as a 403),
and not a byte goes further. A 2xx names the workspace's SSH bridge (``TUNNEL_HEADER``), and
Caddy proxies the WebSocket there itself, without the client's credentials. The bytes never
pass through ``serve``; like an IDE terminal, an open tunnel outlives a restart of ``serve``
and Caddy's config reloads (``STREAM_CLOSE_DELAY``).
"""

from __future__ import annotations

from pathlib import Path

from tidepool.adapters.caddy.config.signin import CLIENT_PLACEHOLDER, ask_control_plane
from tidepool.adapters.caddy.config.variables import JSON, USER_PLACEHOLDER
from tidepool.adapters.caddy.config.workspaces import DIAL_TIMEOUT, STREAM_CLOSE_DELAY
from tidepool.domain.names import NAME_PATTERN
from tidepool.edge import (
    CLIENT_HEADER,
    HOST_HEADER,
    TUNNEL_HEADER,
    TUNNEL_SUFFIX,
    USER_HEADER,
    VIA_HEADER,
)

TUNNEL_PLACEHOLDER = "{http.vars.tidepool_tunnel}"


def tunnel_routes(api_socket: Path | None, user: str = USER_PLACEHOLDER) -> list[JSON]:
    """The tunnel's route (terminal), before the API's: a WebSocket upgrade only; anything
    else on that path goes on to the API (which has no such page)."""
    if api_socket is None:
        return []
    pattern = f"^/api/workspaces/({NAME_PATTERN}){TUNNEL_SUFFIX}$"
    return [
        {
            "match": [
                {
                    "path_regexp": {"name": "tunnel", "pattern": pattern},
                    "header": {"Upgrade": ["websocket"]},
                }
            ],
            "handle": [
                may_open(api_socket, user),
                {"handler": "headers", "request": {"delete": ["Cookie", "Authorization"]}},
                {
                    "handler": "reverse_proxy",
                    "upstreams": [{"dial": TUNNEL_PLACEHOLDER}],
                    "transport": {"protocol": "http", "dial_timeout": DIAL_TIMEOUT},
                    "flush_interval": -1,
                    "stream_close_delay": STREAM_CLOSE_DELAY,
                },
            ],
            "terminal": True,
        }
    ]


def may_open(api_socket: Path, user: str) -> JSON:
    """May this request open a tunnel to the workspace it names? A 2xx sets where to."""
    return ask_control_plane(
        api_socket,
        "/api/workspaces/{http.regexp.tunnel.1}/ssh/authorize",
        {
            USER_HEADER: [user],
            VIA_HEADER: ["caddy"],
            CLIENT_HEADER: [CLIENT_PLACEHOLDER],
            HOST_HEADER: ["{http.request.host}"],
        },
        {"tidepool_tunnel": TUNNEL_HEADER},
    )
