"""The routes that reach a workspace under a path: its IDE and its forwarded ports.

Shape, chosen by measurement (docs/benchmarks.md): ONE shared workspace route that finds the
workspace's instance in the routes directory at request time (``lookup_routes``), and one
shared reverse proxy that dials ``{address}:{workspace_port}``. Nothing here names a
workspace, so adding or removing one never changes the config and Caddy never reloads for it.

``/workspace/{name}`` (no slash) redirects to ``/workspace/{name}/``, keeping the query (a deep
link such as ``?folder=/home/dev/project`` must survive it): code-server serves the IDE at its
root and its links are relative, so the slash matters. The same holds for a forwarded port.
"""

from __future__ import annotations

from pathlib import Path

from tidepool.adapters.caddy.config.options import DEFAULT_FORWARD_PORTS
from tidepool.adapters.caddy.config.pages import BAD_PATH, UNKNOWN_WORKSPACE, page
from tidepool.adapters.caddy.config.routefiles import ROUTE_FILE_PATTERN
from tidepool.adapters.caddy.config.variables import (
    JSON,
    OWNER_PLACEHOLDER,
    UPSTREAM_PLACEHOLDER,
    USER_PLACEHOLDER,
    WORKSPACE_PLACEHOLDER,
)
from tidepool.domain.ide import WORKSPACE_PORT
from tidepool.domain.names import NAME_PATTERN

#: Proxied WebSockets (open terminals) outlive a config reload by this long.
STREAM_CLOSE_DELAY = "24h"
#: An upstream that does not answer gets a clear page after this, not a hang.
DIAL_TIMEOUT = "5s"
#: How long a request waits for a workspace that refuses it (its IDE restarting, a dev
#: server coming up) before the "Nothing is answering" page: tried again every 250 ms.
UPSTREAM_WAIT = "5s"
#: Caddy lets an idle connection to a workspace go after this: before Node's own 5 s
#: keep-alive timeout (code-server's, most dev servers'), so a request is never sent on a
#: connection the workspace is closing at that instant (a 502 under load).
UPSTREAM_IDLE = "2s"
#: ``.``/``..`` segments, ``//`` or backslashes: Caddy's path matchers read the cleaned path
#: while placeholders read the raw one, so ``/workspace/a/../b/`` could otherwise be routed to
#: one workspace and checked for another. Such paths are refused (400).
UNSAFE_PATH = r"(^|/)\.\.?(/|$)|//|\\"
#: ``?`` and the query when the request has one, else nothing: a redirect keeps the query.
QUERY = "{http.request.uri.prefixed_query}"
FORWARD_PREFIX = f"/workspace/{WORKSPACE_PLACEHOLDER}/port/{{http.regexp.fwd.1}}"
#: A ``Set-Cookie`` from a workspace naming one of Tidepool's cookies (any prefix, any case)
#: becomes a harmless expired cookie of another name.
TIDEPOOL_SET_COOKIE_REFUSED = {
    "search_regexp": "(?i)^\\s*(__host-|__secure-)?tidepool_.*$",
    "replace": "tidepool-refused=; Max-Age=0",
}


def slash_redirect(location: str) -> JSON:
    """308 to ``location`` (a path ending in ``/``) with the request's query kept.

    308 keeps the method and body; the query is appended as it came (already encoded), so a
    deep link lands where it pointed.
    """
    return {
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [f"{location}{QUERY}"]},
    }


def proxy(dial: str) -> JSON:
    """A reverse proxy tuned for code-server.

    ``compression: false`` stops the upstream from gzipping every response (which halved
    throughput through the proxy); ``stream_close_delay`` keeps open terminals' WebSockets
    alive when Caddy reloads its config; ``flush_interval: -1`` streams responses as they come.
    A refused connection is tried again for ``UPSTREAM_WAIT`` (and a GET whose connection
    broke, which Caddy retries on its own), and idle connections end before the upstream's
    (``UPSTREAM_IDLE``): both were 502s while a host was busy.
    """
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": dial}],
        # The user's credentials stay at the door: a workspace never sees them (the cookies
        # are taken out before). And a workspace's answer cannot reach beyond it: no
        # Tidepool cookie set or overwritten, no service worker scope widened.
        "headers": {
            "request": {"delete": ["Authorization"]},
            "response": {
                "delete": ["Service-Worker-Allowed"],
                "replace": {"Set-Cookie": [TIDEPOOL_SET_COOKIE_REFUSED]},
            },
        },
        "load_balancing": {"try_duration": UPSTREAM_WAIT, "try_interval": "250ms"},
        "transport": {
            "protocol": "http",
            "compression": False,
            "dial_timeout": DIAL_TIMEOUT,
            "keep_alive": {"idle_timeout": UPSTREAM_IDLE},
        },
        "flush_interval": -1,
        "stream_close_delay": STREAM_CLOSE_DELAY,
    }


def port_routes(forward_ports: tuple[int, ...]) -> list[JSON]:
    """``/workspace/{name}/port/{port}/...`` to ``{address}:{port}``, for allowed ports only.

    Runs inside the workspace route, after the name was looked up; the path is already known
    to be free of dot segments.
    """
    ports = "|".join(str(p) for p in forward_ports)
    prefix = "^/workspace/[^/]+/port/"
    return [
        {
            "match": [{"path_regexp": {"name": "fwd", "pattern": f"{prefix}({ports})$"}}],
            "handle": [slash_redirect(f"{FORWARD_PREFIX}/")],
            "terminal": True,
        },
        {
            "match": [{"path_regexp": {"name": "fwd", "pattern": f"{prefix}({ports})/"}}],
            "handle": [
                {
                    "handler": "rewrite",
                    "strip_path_prefix": FORWARD_PREFIX,
                },
                proxy(f"{UPSTREAM_PLACEHOLDER}:{{http.regexp.fwd.1}}"),
            ],
            "terminal": True,
        },
        {
            "match": [{"path_regexp": {"pattern": f"{prefix}"}}],
            "handle": [
                page(
                    404,
                    "Port not forwarded",
                    "Only ports " + ", ".join(str(p) for p in forward_ports) + " of a workspace "
                    "are reachable, at <code>/workspace/NAME/port/PORT/</code>.",
                )
            ],
            "terminal": True,
        },
    ]


def ownership_route(admins: tuple[str, ...], user: str = USER_PLACEHOLDER) -> JSON:
    """Someone else's workspace answers exactly like a missing one (404, the same page)."""
    return {
        "match": [
            {
                "not": [
                    {"vars": {OWNER_PLACEHOLDER: [user]}},
                    {"vars": {user: list(admins)}},
                ]
            }
        ],
        "handle": [UNKNOWN_WORKSPACE],
        "terminal": True,
    }


def access_routes(admins: tuple[str, ...] | None, user: str = USER_PLACEHOLDER) -> list[JSON]:
    """An unknown workspace (and, with sign-in on, someone else's) gets the 404 page."""
    return [
        {
            "match": [{"vars": {UPSTREAM_PLACEHOLDER: [""]}}],
            "handle": [UNKNOWN_WORKSPACE],
            "terminal": True,
        },
        *([ownership_route(admins, user)] if admins is not None else []),
    ]


def lookup_routes(routes_dir: Path) -> list[JSON]:
    """Find the workspace a path names, then look it up (not terminal: they set variables).

    The routes directory is read only for a request that names a workspace, so requests for
    ``/api`` or ``/app`` never pay for it; the name is a slug by then (``NAME_PATTERN``), so
    it cannot leave the directory.
    """
    return [
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": f"^/workspace/({NAME_PATTERN})/"}}],
            "handle": [{"handler": "vars", "tidepool_ws": "{http.regexp.ws.1}"}],
        },
        route_file_lookup(routes_dir),
    ]


def route_file_lookup(routes_dir: Path) -> JSON:
    """The named workspace's route file gives its address and owner (not terminal), unless
    they are known already."""
    route_file = {
        "file": {"root": str(routes_dir), "try_files": [f"/{WORKSPACE_PLACEHOLDER}/*"]},
    }
    return {
        # Only while nothing found the route yet (a grant's link finds it first).
        "match": [
            {"vars": {UPSTREAM_PLACEHOLDER: [""]}, "not": [{"vars": {WORKSPACE_PLACEHOLDER: [""]}}]}
        ],
        "handle": [
            {
                "handler": "subroute",
                "routes": [
                    {
                        "match": [route_file],
                        "handle": [
                            {
                                "handler": "vars",
                                "tidepool_route": "{http.matchers.file.relative}",
                            }
                        ],
                    },
                    {
                        "match": [
                            {
                                "vars_regexp": {
                                    "{http.vars.tidepool_route}": {
                                        "name": "route",
                                        "pattern": ROUTE_FILE_PATTERN,
                                    }
                                }
                            }
                        ],
                        "handle": [
                            {
                                "handler": "vars",
                                "tidepool_upstream": "{http.regexp.route.1}",
                                "tidepool_owner": "{http.regexp.route.2}",
                            }
                        ],
                    },
                ],
            }
        ],
    }


def unsafe_path_route() -> JSON:
    """``/workspace/...`` with dot segments, ``//`` or backslashes: 400 (``UNSAFE_PATH``)."""
    return {
        "match": [
            {
                "path": ["/workspace/*"],
                "vars_regexp": {"{http.request.uri.path}": {"pattern": UNSAFE_PATH}},
            }
        ],
        "handle": [BAD_PATH],
        "terminal": True,
    }


def workspace_routes(
    workspace_port: int = WORKSPACE_PORT,
    forward_ports: tuple[int, ...] = DEFAULT_FORWARD_PORTS,
    admins: tuple[str, ...] | None = None,
    user: str = USER_PLACEHOLDER,
) -> list[JSON]:
    """The routes that serve ``/workspace/...`` (after ``lookup_routes``)."""
    return [
        unsafe_path_route(),
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": f"^/workspace/({NAME_PATTERN})$"}}],
            "handle": [slash_redirect("/workspace/{http.regexp.ws.1}/")],
            "terminal": True,
        },
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": f"^/workspace/({NAME_PATTERN})/"}}],
            "handle": [
                {
                    "handler": "subroute",
                    "routes": [
                        *access_routes(admins, user),
                        *port_routes(forward_ports),
                        {
                            "handle": [
                                {
                                    "handler": "rewrite",
                                    "strip_path_prefix": f"/workspace/{WORKSPACE_PLACEHOLDER}",
                                },
                                proxy(f"{UPSTREAM_PLACEHOLDER}:{workspace_port}"),
                            ]
                        },
                    ],
                },
            ],
            "terminal": True,
        },
    ]
