"""What the front door (Caddy) and the control plane (the API) must agree on, in one place.

Caddy signs people in and then tells the API who a request is from; the API trusts that only
because both sides use the same header names and the same session cookie. Those names are
neither Caddy's nor the API's: they are the contract between them. Kept here, outside both
``tidepool.adapters`` and ``tidepool.auth``, so each side imports the contract and neither
imports the other (``lint-imports`` checks that adapters never import ``auth`` and that the
API never imports an adapter).
"""

from __future__ import annotations

#: Caddy tells the API who the request is from in this header (any client value is replaced).
USER_HEADER = "X-Tidepool-User"
#: Set by Caddy on everything it sends to the API: the request came from outside the host, so
#: it never gets the host's own (admin) identity that the API's unix socket stands for.
VIA_HEADER = "X-Tidepool-Via"
#: The browser session's cookie: the API sets it at sign-in, Caddy looks it up in its session
#: map and takes it out before a request reaches a workspace.
SESSION_COOKIE = "tidepool_session"
#: A session is known to the proxy by this much of its key (the proxy's ids stay short).
KEY_PREFIX_LENGTH = 32
#: Caddy tells the API the address the request came from (``{http.request.remote.host}``) in
#: this header, replacing any client value: the API hears Caddy over a unix socket, so it has
#: no peer address of its own, and sign-in limits count failures per client address.
CLIENT_HEADER = "X-Tidepool-Client"
#: Caddy tells the API which host a request was for (``{http.request.host}``), replacing any
#: client value: a workspace origin's sign-in code is good for that origin alone.
HOST_HEADER = "X-Tidepool-Host"
#: The control plane's answer to Caddy when it admits an SSH tunnel: where its bytes go
#: (the workspace's SSH bridge, ``ADDRESS:PORT``). Caddy never takes it from a client.
TUNNEL_HEADER = "X-Tidepool-Tunnel"
#: The SSH tunnel's WebSocket, on the main host: ``/api/workspaces/NAME/ssh``.
TUNNEL_SUFFIX = "/ssh"
#: A workspace origin's own credential (a grant), set for that host alone; Caddy checks it
#: and takes it out before the request reaches the workspace.
GRANT_COOKIE = "tidepool_grant"
#: Under TLS every Tidepool cookie carries this prefix: the browser then refuses it unless it
#: is Secure, host-only and for path ``/``, so no other host (a workspace's page on a
#: sibling name) can set or overwrite it.
HOST_ONLY_PREFIX = "__Host-"


def cookie_name(name: str, secure: bool) -> str:
    """``name`` as the browser stores it: with ``HOST_ONLY_PREFIX`` when cookies are Secure."""
    return f"{HOST_ONLY_PREFIX}{name}" if secure else name


#: A grant's token, as its cookie carries it (Caddy checks the shape before any file lookup).
GRANT_TOKEN_PATTERN = "[A-Za-z0-9_-]{43}"  # noqa: S105 (a shape, not a secret)
#: The sign-in a grant came from, last in its file's name: a session key's first hex digits,
#: or ``basic``. A grant is the directory ``LABEL/TOKEN/`` holding one file, ``USER.SOURCE``.
GRANT_SOURCE_PATTERN = "[0-9a-f]{16}|basic"
#: Inside a grant's directory, a symbolic link to its workspace's routes directory: Caddy
#: finds the grant and the route in one lookup (``LABEL/TOKEN/route/ADDRESS@OWNER``).
GRANT_ROUTE_LINK = "route"
