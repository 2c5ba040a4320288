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
