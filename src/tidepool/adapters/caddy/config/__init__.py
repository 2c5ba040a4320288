"""The Caddy JSON config, built by pure functions (no I/O, unit-tested exhaustively).

Shape, chosen by measurement (docs/benchmarks.md): ONE shared workspace route that finds the
workspace's instance in the routes directory at request time, and one shared reverse proxy
that dials ``{address}:8080``. Each routed workspace is a directory there holding one empty
file named ``{address}@{owner}`` (``CaddyRouteTable`` writes them); Caddy's ``file`` matcher
expands ``/{name}/*`` per request and a regexp takes the address and owner out of the name.
Adding or removing a workspace never changes this config, so Caddy never reloads for it and
no request in flight is dropped, with 1 or 10,000 workspaces.

One module per concern, so each can be read (and changed) without the others:

- ``routefiles``: the names of the per-workspace route files, shared by writer and reader;
- ``pages``: the HTML pages Caddy answers with itself;
- ``workspaces``: the lookup, the IDE and forwarded ports under paths;
- ``origins``: each workspace on an origin of its own, and the path redirects to it;
- ``signin``: basic auth, ``forward_auth`` sessions, and what the API is told;
- ``tls``: HTTPS and the HTTP redirect;
- ``options`` and ``base``: the installation's options, and the assembly in route order.

The header and cookie names Caddy shares with the API are not here but in ``tidepool.edge``,
so the API never imports this adapter. Everything importers used from the single module this
package replaced is re-exported here.
"""

from tidepool.adapters.caddy.config.base import (
    CONFIG_ID,
    CONFIG_VERSION,
    SERVER_NAME,
    base_config,
)
from tidepool.adapters.caddy.config.options import DEFAULT_FORWARD_PORTS, CaddyOptions
from tidepool.adapters.caddy.config.origins import (
    origin_matcher,
    origin_route,
    path_redirects,
)
from tidepool.adapters.caddy.config.pages import (
    BAD_PATH,
    NOT_FOUND,
    SIGN_IN,
    UNKNOWN_WORKSPACE,
    UPSTREAM_DOWN,
    error_routes,
    page,
)
from tidepool.adapters.caddy.config.routefiles import (
    LEGACY_MAP_ID,
    ROUTE_FILE_PATTERN,
    owners_from_mappings,
    parse_route_file_name,
    route_file_name,
    routes_from_mappings,
)
from tidepool.adapters.caddy.config.signin import (
    AUTH_ID,
    PROTECTED_PATHS,
    SESSION_COOKIE_REMOVALS,
    SESSION_ID_PREFIX,
    SESSION_LOOKUP,
    SESSIONS_ID,
    VERIFY_PATH,
    api_routes,
    auth_route,
    session_id,
    session_key_prefix,
    session_mapping,
    session_routes,
    verify_proxy,
)
from tidepool.adapters.caddy.config.tls import redirect_server, tls_app
from tidepool.adapters.caddy.config.variables import (
    JSON,
    OWNER_PLACEHOLDER,
    SESSION_USER_PLACEHOLDER,
    UPSTREAM_PLACEHOLDER,
    USER_PLACEHOLDER,
)
from tidepool.adapters.caddy.config.workspaces import (
    DIAL_TIMEOUT,
    FORWARD_PREFIX,
    STREAM_CLOSE_DELAY,
    UNSAFE_PATH,
    access_routes,
    lookup_routes,
    ownership_route,
    port_routes,
    proxy,
    workspace_routes,
)
from tidepool.domain.ide import WORKSPACE_PORT
from tidepool.edge import USER_HEADER, VIA_HEADER

__all__ = [
    "AUTH_ID",
    "BAD_PATH",
    "CONFIG_ID",
    "CONFIG_VERSION",
    "DEFAULT_FORWARD_PORTS",
    "DIAL_TIMEOUT",
    "FORWARD_PREFIX",
    "JSON",
    "LEGACY_MAP_ID",
    "NOT_FOUND",
    "OWNER_PLACEHOLDER",
    "PROTECTED_PATHS",
    "ROUTE_FILE_PATTERN",
    "SERVER_NAME",
    "SESSIONS_ID",
    "SESSION_COOKIE_REMOVALS",
    "SESSION_ID_PREFIX",
    "SESSION_LOOKUP",
    "SESSION_USER_PLACEHOLDER",
    "SIGN_IN",
    "STREAM_CLOSE_DELAY",
    "UNKNOWN_WORKSPACE",
    "UNSAFE_PATH",
    "UPSTREAM_DOWN",
    "UPSTREAM_PLACEHOLDER",
    "USER_HEADER",
    "USER_PLACEHOLDER",
    "VERIFY_PATH",
    "VIA_HEADER",
    "WORKSPACE_PORT",
    "CaddyOptions",
    "access_routes",
    "api_routes",
    "auth_route",
    "base_config",
    "error_routes",
    "lookup_routes",
    "origin_matcher",
    "origin_route",
    "owners_from_mappings",
    "ownership_route",
    "page",
    "parse_route_file_name",
    "path_redirects",
    "port_routes",
    "proxy",
    "redirect_server",
    "route_file_name",
    "routes_from_mappings",
    "session_id",
    "session_key_prefix",
    "session_mapping",
    "session_routes",
    "tls_app",
    "verify_proxy",
    "workspace_routes",
]
