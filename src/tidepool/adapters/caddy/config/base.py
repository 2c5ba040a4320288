"""``base_config(options)``: the whole Caddy config, assembled from the other modules.

This is the only place that knows the order of the routes, and the order is the logic:

1. sign-in (``signin``): basic auth, or the session lookup with ``forward_auth``;
2. the lookup (``workspaces.lookup_routes``): which workspace, and its route file;
3. a preview host, then ``/api`` and ``/app`` to the control plane;
4. ``/workspace/...`` (``workspaces.workspace_routes``): unsafe paths refused, the bare path
   redirected, then the IDE or a forwarded port;
5. anything else gets the 404 page.

It holds no workspace: those are files in ``options.routes_dir`` (``routefiles``).
"""

from __future__ import annotations

from tidepool.adapters.caddy.config.options import CaddyOptions
from tidepool.adapters.caddy.config.pages import NOT_FOUND, error_routes
from tidepool.adapters.caddy.config.signin import api_routes, auth_route, session_routes
from tidepool.adapters.caddy.config.tls import https_listener, redirect_server, tls_apps
from tidepool.adapters.caddy.config.variables import JSON
from tidepool.adapters.caddy.config.workspaces import (
    lookup_routes,
    preview_matcher,
    preview_route,
    workspace_routes,
)

SERVER_NAME = "tidepool"
#: Bumped whenever the config's shape changes: a Caddy that resumes an older shape (from its
#: autosave) gets the new one, with its routes carried over. 6: the slash redirects keep the
#: query.
CONFIG_VERSION = 6
CONFIG_ID = f"tidepool-config-v{CONFIG_VERSION}"


def base_config(options: CaddyOptions) -> JSON:
    """The whole config: admin on a unix socket, the workspace routes, TLS if asked for.

    It holds no workspace: those are files in ``options.routes_dir``.
    """
    preview = preview_matcher(options)
    admins = options.admins if options.auth else None
    user = options.user_placeholder
    signed_in = (
        session_routes(options.api_socket, preview)
        if options.forward_auth and options.api_socket is not None
        else []
    )
    main = {
        "@id": CONFIG_ID,
        "listen": [options.listen],
        "automatic_https": {"disable": True},
        "errors": {"routes": error_routes()},
        "routes": [
            *([foreign_host_route(options)] if options.hosts else []),
            *([auth_route(options.users, preview)] if options.users is not None else []),
            *signed_in,
            *lookup_routes(options.routes_dir, preview),
            *([preview_route(preview, admins, user)] if preview is not None else []),
            *api_routes(options.api_socket, "" if options.forward_auth else user),
            *workspace_routes(options.workspace_port, options.forward_ports, admins, user),
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
    hosts = [*options.hosts, *([f"*.{options.preview_domain}"] if options.preview_domain else [])]
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
