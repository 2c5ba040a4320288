"""The Caddy JSON config, built by pure functions (no I/O, unit-tested exhaustively).

Shape, chosen by measurement (docs/benchmarks.md): ONE shared workspace route that finds the
workspace's instance in the routes directory at request time, and one shared reverse proxy
that dials ``{address}:8080``. Each routed workspace is a directory there holding one empty
file named ``{address}@{owner}`` (``CaddyRouteTable`` writes them); Caddy's ``file`` matcher
expands ``/{name}/*`` per request and a regexp takes the address and owner out of the name.
Adding or removing a workspace never changes this config, so Caddy never reloads for it and
no request in flight is dropped, with 1 or 10,000 workspaces.

Request handling, in order:

1. a path under ``/workspace/`` with ``.``/``..`` segments, ``//`` or backslashes is refused
   (400): Caddy's path matchers read the cleaned path while placeholders read the raw one, so
   ``/workspace/a/../b/`` could otherwise be routed to one workspace and checked for another;
2. ``/workspace/{name}`` redirects to ``/workspace/{name}/`` (code-server's links are relative);
3. ``/workspace/{name}/...``: the name is copied into a variable, looked up in the routes
   directory; an
   unknown name gets a clear HTML 404; a known one has ``/workspace/{name}`` stripped and is
   proxied with WebSockets, no upstream compression, and open streams kept across reloads;
4. anything else gets the 404 page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidepool.auth.sessions import KEY_PREFIX_LENGTH, SESSION_COOKIE
from tidepool.auth.users import USER_NAME

JSON = dict[str, Any]

SERVER_NAME = "tidepool"
#: Bumped whenever the config's shape changes: a Caddy that resumes an older shape (from its
#: autosave) gets the new one, with its routes carried over.
CONFIG_VERSION = 5
CONFIG_ID = f"tidepool-config-v{CONFIG_VERSION}"
#: Configs up to version 4 routed through a ``map`` handler with this id (carried over once).
LEGACY_MAP_ID = "tidepool-workspaces"
NAME_PATTERN = "[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: A route file's path under the routes directory: ``/{name}/{address}@{owner}``.
ROUTE_FILE_PATTERN = f"^/{NAME_PATTERN}/([0-9.]+)@((?:{USER_NAME.pattern})?)$"
UPSTREAM_PLACEHOLDER = "{http.vars.tidepool_upstream}"
WORKSPACE_PORT = 8080
#: Proxied WebSockets (open terminals) outlive a config reload by this long.
STREAM_CLOSE_DELAY = "24h"
DEFAULT_FORWARD_PORTS = (8081, 8082, 8083, 8084, 8085)
#: An upstream that does not answer gets a clear page after this, not a hang.
DIAL_TIMEOUT = "5s"
_UNSAFE_PATH = r"(^|/)\.\.?(/|$)|//|\\"


@dataclass(frozen=True, slots=True)
class CaddyOptions:
    """What the base config needs to know about this installation."""

    admin_socket: Path
    storage_dir: Path
    listen: str = ":8080"
    #: The port code-server listens on inside every instance.
    workspace_port: int = WORKSPACE_PORT
    #: The control plane's API socket; ``/api/*`` is proxied there when set.
    api_socket: Path | None = None
    #: Ports inside a workspace reachable at ``/workspace/{name}/port/{port}/``.
    forward_ports: tuple[int, ...] = DEFAULT_FORWARD_PORTS
    #: ``(name, bcrypt hash)`` of every user when ``basic`` auth is on; None when auth is off.
    users: tuple[tuple[str, str], ...] | None = None
    #: Users who may open every workspace.
    admins: tuple[str, ...] = ()
    #: ``off``: HTTP on ``listen``. ``internal``: HTTPS on ``https_listen`` with a certificate
    #: from Caddy's own CA (a LAN), ``acme``: from Let's Encrypt/ZeroSSL (a public domain);
    #: then ``listen`` only redirects to HTTPS.
    tls: str = "off"
    domain: str = ""
    https_listen: str = ":8443"
    #: When set, ``{port}--{name}.{preview_domain}`` also reaches a forwarded port, for dev
    #: servers that cannot live under a path prefix (wildcard DNS points it at this host).
    preview_domain: str = ""
    #: ``auth = "forward_auth"``: the control plane signs people in; Caddy knows live sessions
    #: from its session map and asks the control plane (``/api/auth/verify``) about the rest.
    forward_auth: bool = False

    @property
    def routes_dir(self) -> Path:
        """Where ``CaddyRouteTable`` writes the routes and Caddy reads them: beside storage."""
        return self.storage_dir.parent / "routes"

    @property
    def auth(self) -> bool:
        return self.users is not None or self.forward_auth

    @property
    def user_placeholder(self) -> str:
        """Where the signed-in user's name is, once the request got past sign-in."""
        return SESSION_USER_PLACEHOLDER if self.forward_auth else USER_PLACEHOLDER


OWNER_PLACEHOLDER = "{http.vars.tidepool_owner}"
USER_PLACEHOLDER = "{http.auth.user.id}"
AUTH_ID = "tidepool-auth"
#: Caddy tells the API who the request is from in this header (any client value is replaced).
USER_HEADER = "X-Tidepool-User"
#: Set by Caddy on everything it sends to the API: the request came from outside the host, so
#: it never gets the host's own (admin) identity that the API's unix socket stands for.
VIA_HEADER = "X-Tidepool-Via"
SESSIONS_ID = "tidepool-sessions"
SESSION_ID_PREFIX = "tidepool-session-"
SESSION_LOOKUP = "{tidepool.session_user}"
SESSION_USER_PLACEHOLDER = "{http.vars.tidepool_user}"
VERIFY_PATH = "/api/auth/verify"
#: Take the session cookie out of a ``Cookie`` header: first, then anywhere after another one.
SESSION_COOKIE_REMOVALS = [
    {"search_regexp": f"^\\s*{SESSION_COOKIE}=[^;]*(;\\s*)?", "replace": ""},
    {"search_regexp": f";\\s*{SESSION_COOKIE}=[^;]*", "replace": ""},
]
PROTECTED_PATHS = ["/api", "/api/*", "/app", "/app/*", "/workspace", "/workspace/*"]


def route_file_name(address: str, owner: str = "") -> str:
    """The name of the one file in a workspace's routes directory (both already validated)."""
    return f"{address}@{owner}"


def parse_route_file_name(file_name: str) -> tuple[str, str]:
    """``(address, owner)`` from a route file's name."""
    address, _, owner = file_name.partition("@")
    return address, owner


def page(status: int | str, title: str, message: str) -> JSON:
    """A small, self-contained HTML page as a static response."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · Tidepool</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;"
        "padding:0 1rem;color:#1f2933}h1{font-size:1.5rem}code{background:#eef2f6;"
        "padding:.1rem .3rem;border-radius:3px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{message}</p></body></html>"
    )
    return {
        "handler": "static_response",
        "status_code": status,
        "headers": {"Content-Type": ["text/html; charset=utf-8"], "Cache-Control": ["no-store"]},
        "body": body,
    }


UNKNOWN_WORKSPACE = page(
    404,
    "No such workspace",
    "There is no running workspace called <code>{http.vars.tidepool_ws}</code> here. "
    "Check the name, or start it with <code>tidepool workspace start</code>.",
)
NOT_FOUND = page(404, "Not found", "Workspaces live at <code>/workspace/NAME/</code>.")
UPSTREAM_DOWN = page(
    "{http.error.status_code}",
    "Nothing is answering",
    "Nothing answered at this address inside the workspace "
    "(<code>{http.error.status_code}</code>). If the workspace is starting, wait a moment; "
    "if this is your dev server, check that it is running and listens on 0.0.0.0.",
)
BAD_PATH = page(
    400,
    "Bad path",
    "This path has <code>.</code>, <code>..</code> or empty "
    "segments, which Tidepool does not route.",
)


FORWARD_PREFIX = "/workspace/{http.vars.tidepool_ws}/port/{http.regexp.fwd.1}"


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
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 308,
                    "headers": {
                        "Location": ["/workspace/{http.vars.tidepool_ws}/port/{http.regexp.fwd.1}/"]
                    },
                }
            ],
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
    """Someone else's workspace answers exactly like a missing one: names do not leak."""
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


def lookup_routes(routes_dir: Path, preview: JSON | None) -> list[JSON]:
    """Find the workspace a request is for, by path or by preview host, then look it up.

    Not terminal: they only set variables. The routes directory is read only for a request
    that names a workspace, so requests for ``/api`` or ``/app`` never pay for it; the name
    is a slug by then (``NAME_PATTERN``), so it cannot leave the directory.
    """
    found = [
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": f"^/workspace/({NAME_PATTERN})/"}}],
            "handle": [{"handler": "vars", "tidepool_ws": "{http.regexp.ws.1}"}],
        }
    ]
    if preview is not None:
        found.append(
            {
                "match": [preview],
                "handle": [
                    {
                        "handler": "vars",
                        "tidepool_ws": "{http.regexp.pv.2}",
                        "tidepool_port": "{http.regexp.pv.1}",
                    }
                ],
            }
        )
    route_file = {
        "file": {"root": str(routes_dir), "try_files": ["/{http.vars.tidepool_ws}/*"]},
    }
    found.append(
        {
            "match": [{"not": [{"vars": {"{http.vars.tidepool_ws}": [""]}}]}],
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
    )
    return found


def preview_matcher(options: CaddyOptions) -> JSON | None:
    """``{port}--{name}.{preview_domain}`` (with any port after it), or None when off."""
    if not options.preview_domain:
        return None
    ports = "|".join(str(p) for p in options.forward_ports)
    domain = re.escape(options.preview_domain)
    pattern = f"^({ports})--({NAME_PATTERN})\\.{domain}(:[0-9]+)?$"
    return {"header_regexp": {"Host": {"name": "pv", "pattern": pattern}}}


def preview_route(
    matcher: JSON, admins: tuple[str, ...] | None, user: str = USER_PLACEHOLDER
) -> JSON:
    """A preview host goes straight to the port, path untouched."""
    return {
        "match": [matcher],
        "handle": [
            {
                "handler": "subroute",
                "routes": [
                    *access_routes(admins, user),
                    {"handle": [proxy(f"{UPSTREAM_PLACEHOLDER}:{{http.vars.tidepool_port}}")]},
                ],
            }
        ],
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
        {
            "match": [
                {
                    "path": ["/workspace/*"],
                    "vars_regexp": {"{http.request.uri.path}": {"pattern": _UNSAFE_PATH}},
                }
            ],
            "handle": [BAD_PATH],
            "terminal": True,
        },
        {
            "match": [{"path_regexp": {"name": "ws", "pattern": f"^/workspace/({NAME_PATTERN})$"}}],
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 308,
                    "headers": {"Location": ["/workspace/{http.regexp.ws.1}/"]},
                }
            ],
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
                                    "strip_path_prefix": "/workspace/{http.vars.tidepool_ws}",
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


def proxy(dial: str) -> JSON:
    """A reverse proxy tuned for code-server.

    ``compression: false`` stops the upstream from gzipping every response (which halved
    throughput through the proxy); ``stream_close_delay`` keeps open terminals' WebSockets
    alive when Caddy reloads its config; ``flush_interval: -1`` streams responses as they come.
    """
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": dial}],
        # The user's credentials stay at the door: a workspace never sees them (the session
        # cookie is taken out in ``session_routes``).
        "headers": {"request": {"delete": ["Authorization"]}},
        "transport": {"protocol": "http", "compression": False, "dial_timeout": DIAL_TIMEOUT},
        "flush_interval": -1,
        "stream_close_delay": STREAM_CLOSE_DELAY,
    }


def api_routes(api_socket: Path | None, user: str = USER_PLACEHOLDER) -> list[JSON]:
    """``/api/*`` and the web app ``/app/*`` to the control plane over its unix socket."""
    if api_socket is None:
        return []
    return [
        {
            "match": [{"path": ["/"]}],
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 302,
                    "headers": {"Location": ["/app/"]},
                }
            ],
            "terminal": True,
        },
        {
            "match": [{"path": ["/api", "/api/*", "/app", "/app/*"]}],
            "handle": [
                {
                    "handler": "reverse_proxy",
                    "upstreams": [{"dial": f"unix/{api_socket}"}],
                    "flush_interval": -1,
                    "headers": {"request": {"set": {USER_HEADER: [user], VIA_HEADER: ["caddy"]}}},
                }
            ],
            "terminal": True,
        },
    ]


def session_routes(api_socket: Path, preview: JSON | None) -> list[JSON]:
    """Who a request to a workspace is from, with ``forward_auth``; not terminal.

    The cheap path: Caddy's session map turns the session cookie into the user, one exact
    lookup like the workspace map. Only a cookie Caddy does not know yet (the first request
    after sign-in or after Caddy restarted), a bearer token, or no credentials at all go to
    the control plane, which answers with the user (and teaches the map the session) or
    sends the browser to the sign-in page. ``/api`` and ``/app`` are the control plane's
    own: it checks credentials there itself.
    """
    return [
        {
            "match": [
                {"path": ["/workspace", "/workspace/*"]},
                *([preview] if preview is not None else []),
            ],
            "handle": [
                {
                    "handler": "map",
                    "@id": SESSIONS_ID,
                    "source": f"{{http.request.cookie.{SESSION_COOKIE}}}",
                    "destinations": [SESSION_LOOKUP],
                    "defaults": [""],
                    "mappings": [],
                },
                # One lookup, now, while the cookie is still there.
                {"handler": "vars", "tidepool_user": SESSION_LOOKUP},
                {
                    "handler": "subroute",
                    "routes": [
                        {
                            "match": [{"vars": {SESSION_USER_PLACEHOLDER: [""]}}],
                            "handle": [verify_proxy(api_socket)],
                        },
                    ],
                },
                # A workspace never sees the session: a dev server an admin opens must not be
                # able to log the admin's cookie.
                {"handler": "headers", "request": {"replace": {"Cookie": SESSION_COOKIE_REMOVALS}}},
            ],
        }
    ]


def verify_proxy(api_socket: Path) -> JSON:
    """Ask the control plane who this is: a 2xx names the user and lets the request go on;
    anything else (a redirect to sign in, a 401) is the answer the client gets."""
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": f"unix/{api_socket}"}],
        "rewrite": {"method": "GET", "uri": VERIFY_PATH},
        "headers": {
            "request": {
                "set": {
                    "X-Forwarded-Method": ["{http.request.method}"],
                    "X-Forwarded-Uri": ["{http.request.uri}"],
                    VIA_HEADER: ["caddy"],
                },
                "delete": [USER_HEADER],
            }
        },
        "handle_response": [
            {
                "match": {"status_code": [2]},
                "routes": [
                    {
                        "handle": [
                            {
                                "handler": "vars",
                                "tidepool_user": "{http.reverse_proxy.header.X-Tidepool-User}",
                            }
                        ]
                    }
                ],
            }
        ],
    }


def session_mapping(key: str, token: str, user: str) -> JSON:
    """One live session in Caddy's session map, addressed by its hash (never by the token)."""
    return {"@id": session_id(key), "input": token, "outputs": [user]}


def session_id(key: str) -> str:
    """A session map entry's id: from the session's key (its hash) or the key's prefix."""
    return f"{SESSION_ID_PREFIX}{key[:KEY_PREFIX_LENGTH]}"


def session_key_prefix(entry_id: str) -> str:
    """The key prefix a session map entry's id carries ("" for anything else)."""
    prefix = entry_id.removeprefix(SESSION_ID_PREFIX)
    return prefix if prefix != entry_id else ""


def auth_route(users: tuple[tuple[str, str], ...], preview: JSON | None = None) -> JSON:
    """Basic auth in front of everything but ``/``; ``hash_cache`` keeps bcrypt off the hot path.

    Not terminal: it authenticates, then the routes after it run with ``{http.auth.user.id}``.
    """
    return {
        "match": [
            {"path": PROTECTED_PATHS},
            *([preview] if preview is not None else []),
        ],
        "handle": [
            {
                "handler": "authentication",
                "@id": AUTH_ID,
                "providers": {
                    "http_basic": {
                        "accounts": [{"username": n, "password": h} for n, h in users],
                        "hash": {"algorithm": "bcrypt"},
                        "hash_cache": {},
                        "realm": "Tidepool",
                    }
                },
            }
        ],
    }


SIGN_IN = page(401, "Sign in required", "Sign in with your Tidepool user name and password.")


def error_routes() -> list[JSON]:
    """Pages for errors raised inside Caddy: sign-in required, or an upstream not answering."""
    return [
        {"match": [{"vars": {"{http.error.status_code}": ["401"]}}], "handle": [SIGN_IN]},
        {"handle": [UPSTREAM_DOWN]},
    ]


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
        main["listen"] = [options.https_listen]
        main["automatic_https"] = {"disable_redirects": True}
        main["tls_connection_policies"] = [{}]
        servers[f"{SERVER_NAME}-redirect"] = redirect_server(options)
        apps["tls"] = tls_app(options)
        apps["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
    return {
        "admin": {
            "listen": f"unix/{options.admin_socket}",
            "config": {"persist": True},
        },
        "storage": {"module": "file_system", "root": str(options.storage_dir)},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": apps,
    }


def redirect_server(options: CaddyOptions) -> JSON:
    """Plain HTTP only sends people to HTTPS (308 keeps the method)."""
    port = options.https_listen.rsplit(":", 1)[-1]
    suffix = "" if port == "443" else f":{port}"
    return {
        "listen": [options.listen],
        "automatic_https": {"disable": True},
        "routes": [
            {
                "handle": [
                    {
                        "handler": "static_response",
                        "status_code": 308,
                        "headers": {
                            "Location": [
                                f"https://{{http.request.host}}{suffix}{{http.request.uri}}"
                            ]
                        },
                    }
                ]
            }
        ],
    }


def tls_app(options: CaddyOptions) -> JSON:
    """A certificate for ``domain``, from Caddy's internal CA or by ACME, renewed by Caddy.

    The internal CA's root is not added to the host's trust store (Caddy would by default):
    users install it themselves (``DATA_DIR/caddy/storage/pki/authorities/local/root.crt``).
    """
    issuer = {"module": "internal"} if options.tls == "internal" else {"module": "acme"}
    return {
        "certificates": {"automate": [options.domain]},
        "automation": {"policies": [{"subjects": [options.domain], "issuers": [issuer]}]},
    }


def routes_from_mappings(mappings: list[JSON]) -> dict[str, str]:
    """Read ``{name: address}`` back from an older config's map handler's mappings."""
    return {m["input"]: m["outputs"][0] for m in mappings if m.get("outputs")}


def owners_from_mappings(mappings: list[JSON]) -> dict[str, str]:
    """Read ``{name: owner}`` back (older configs had no owner: empty)."""
    return {
        m["input"]: (m["outputs"][1] if len(m["outputs"]) > 1 else "")
        for m in mappings
        if m.get("outputs")
    }
