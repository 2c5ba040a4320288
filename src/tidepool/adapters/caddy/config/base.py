"""``base_config(options)``: the whole Caddy config, assembled from the other modules.

This is the only place that knows the order of the routes, and the order is the logic:

1. a host this installation is not: 421;
2. a workspace origin (``origins.origin_route``): everything it serves, its own sign-in
   (a grant) included;
3. sign-in on the main host (``signin``): basic auth, or the session lookup with
   ``forward_auth`` when workspaces are served under paths;
4. the SSH tunnel's WebSocket, admitted by the control plane, to the workspace (``tunnel``);
   then ``/api`` and ``/app`` to the control plane;
5. ``/workspace/...``: redirected to the workspace's origin (``origins.path_redirects``), or
   served in place (``workspaces``): unsafe paths refused, the bare path redirected, then
   the IDE or a forwarded port;
6. anything else gets the 404 page.

It holds no workspace: those are files in ``options.routes_dir`` (``routefiles``)."""

from __future__ import annotations

from tidepool.adapters.caddy.config.options import CaddyOptions
from tidepool.adapters.caddy.config.origins import origin_matcher, origin_route, path_redirects
from tidepool.adapters.caddy.config.pages import NOT_FOUND, error_routes
from tidepool.adapters.caddy.config.signin import api_routes, auth_route, session_routes
from tidepool.adapters.caddy.config.tls import https_listener, redirect_server, tls_apps
from tidepool.adapters.caddy.config.tokens import token_map
from tidepool.adapters.caddy.config.tunnel import tunnel_routes
from tidepool.adapters.caddy.config.variables import JSON
from tidepool.adapters.caddy.config.workspaces import lookup_routes, workspace_routes
from tidepool.edge import SESSION_COOKIE, cookie_name

SERVER_NAME = "tidepool"
#: Bumped whenever the config's shape changes: a Caddy that resumes an older shape (from its
#: autosave) gets the new one, with its routes carried over. 6: the slash redirects keep the
#: query. 7: each workspace on an origin of its own. 8: requests wait while serve restarts.
#: 9: API tokens the control plane vouched for are admitted from Caddy's token map. 10: a
#: grant's link finds the route with the grant; the SSH tunnel (``tunnel``).
CONFIG_VERSION = 10
CONFIG_ID = f"tidepool-config-v{CONFIG_VERSION}"


def base_config(options: CaddyOptions) -> JSON:
    """The whole config: admin on a unix socket, the workspace routes, TLS if asked for.

    It holds no workspace: those are files in ``options.routes_dir``, and no grant: those
    are files in ``options.grants_dir``.
    """
    origin = origin_matcher(options)
    admins = options.admins if options.auth else None
    user = options.user_placeholder
    in_place = options.serve_paths or origin is None
    signed_in = (
        session_routes(options.api_socket, cookie_name(SESSION_COOKIE, options.tls != "off"))
        if options.forward_auth and options.api_socket is not None and in_place
        else []
    )
    in_place_routes = workspace_routes(options.workspace_port, options.forward_ports, admins, user)
    paths = (
        [*lookup_routes(options.routes_dir), *in_place_routes]
        if in_place
        else path_redirects(options)
    )
    main = {
        "@id": CONFIG_ID,
        "listen": [options.listen],
        "automatic_https": {"disable": True},
        "errors": {"routes": error_routes()},
        "routes": [
            *([foreign_host_route(options)] if options.hosts else []),
            *([token_map()] if options.forward_auth and options.api_socket is not None else []),
            *([origin_route(options, origin)] if origin is not None else []),
            *([auth_route(options.users)] if options.users is not None else []),
            *signed_in,
            *tunnel_routes(options.api_socket, "" if options.forward_auth else user),
            *api_routes(options.api_socket, "" if options.forward_auth else user),
            *paths,
            {"handle": [NOT_FOUND], "terminal": True},
        ],
    }
    servers: JSON = {SERVER_NAME: main}
    apps: JSON = {"http": {"servers": servers}}
    if options.tls != "off":
        main.update(https_listener(options))
        servers[f"{SERVER_NAME}-redirect"] = redirect_server(options)
        apps.update(tls_apps(options))
    return {
        "admin": {
            "listen": f"unix/{options.admin_socket}",
            "config": {"persist": True},
        },
        "storage": {"module": "file_system", "root": str(options.storage_dir)},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": apps,
    }


def foreign_host_route(options: CaddyOptions) -> JSON:
    """Refuse (421) a request for a host this installation is not: first, before sign-in,
    routing or the API see it."""
    origins = [f"*.{options.workspace_domain}"] if options.workspace_domain else []
    hosts = [*options.hosts, *origins]
    return {
        "match": [{"not": [{"host": hosts}]}],
        "handle": [
            {
                "handler": "static_response",
                "status_code": 421,
                "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                "body": "Misdirected request: this Tidepool does not serve that host name.\n",
            }
        ],
        "terminal": True,
    }
