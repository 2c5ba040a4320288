"""Each workspace on an origin of its own: ``NAME.DOMAIN`` (the IDE), ``PORT--NAME.DOMAIN``.

A request to a workspace origin is served by one terminal route, in this order:

1. the origin's name, forwarded port and label are taken from ``Host``;
2. ``/_tidepool/exchange`` (with sign-in on) goes to the control plane, which trades a
   one-time code for this origin's grant (``tidepool.auth.grants``);
3. the grant cookie must have a grant token's shape, then be a directory
   ``GRANTS/LABEL/TOKEN/`` whose ``route`` link leads to the workspace's route (one lookup
   finds both: no call to the control plane, no config change per grant). A grant is issued
   only to someone the control plane found may open the workspace, and deleted when that
   stops being true, so it needs no owner check here. Without one, an API token the control
   plane already vouched for is found in Caddy's token map (``tokens``); otherwise the
   control plane is asked (``verify_proxy``): an API token passes (and is owner-checked
   below), a browser is sent through the handshake;
4. the workspace's route file gives its address and owner, unless the grant's link did; an
   unknown workspace answers 404, and so does one the (token's) user may not open;
5. the request goes to code-server, or to the forwarded port, without Tidepool's cookies.

Path URLs on the main host (``/workspace/NAME/...``) redirect here (``path_redirects``).
"""

from __future__ import annotations

from pathlib import Path

from tidepool.adapters.caddy.config.options import CaddyOptions
from tidepool.adapters.caddy.config.pages import NOT_FOUND, SIGN_IN
from tidepool.adapters.caddy.config.routefiles import GRANT_ROUTE_FILE_PATTERN
from tidepool.adapters.caddy.config.signin import (
    CLIENT_PLACEHOLDER,
    api_upstream,
    cookie_removals,
    verify_proxy,
)
from tidepool.adapters.caddy.config.tokens import token_user
from tidepool.adapters.caddy.config.variables import (
    JSON,
    SESSION_USER_PLACEHOLDER,
    UPSTREAM_PLACEHOLDER,
)
from tidepool.adapters.caddy.config.workspaces import (
    QUERY,
    access_routes,
    ownership_route,
    proxy,
    route_file_lookup,
    unsafe_path_route,
)
from tidepool.domain.names import NAME_PATTERN
from tidepool.domain.origins import EXCHANGE_PATH, workspace_host_pattern
from tidepool.edge import (
    CLIENT_HEADER,
    GRANT_COOKIE,
    GRANT_ROUTE_LINK,
    GRANT_TOKEN_PATTERN,
    HOST_HEADER,
    SESSION_COOKIE,
    USER_HEADER,
    VIA_HEADER,
    cookie_name,
)

EXCHANGE_API_PATH = "/api/auth/exchange"
#: Set when the request holds a grant of this origin.
GRANTED_PLACEHOLDER = "{http.vars.tidepool_granted}"
LABEL_PLACEHOLDER = "{http.vars.tidepool_label}"
ROUTE_PLACEHOLDER = "{http.vars.tidepool_route}"
PORT_PLACEHOLDER = "{http.vars.tidepool_port}"


def origin_matcher(options: CaddyOptions) -> JSON | None:
    """A request whose ``Host`` is a workspace origin, or None when origins are off."""
    if not options.workspace_domain:
        return None
    pattern = workspace_host_pattern(options.workspace_domain, options.forward_ports)
    return {"header_regexp": {"Host": {"name": "origin", "pattern": pattern}}}


def origin_route(options: CaddyOptions, matcher: JSON) -> JSON:
    """Everything a workspace origin serves (terminal)."""
    admins = options.admins if options.auth else None
    grant = cookie_name(GRANT_COOKIE, options.tls != "off")
    session = cookie_name(SESSION_COOKIE, options.tls != "off")
    routes: list[JSON] = [
        {
            "handle": [
                {
                    "handler": "vars",
                    "tidepool_label": "{http.regexp.origin.1}",
                    "tidepool_port": "{http.regexp.origin.2}",
                    "tidepool_ws": "{http.regexp.origin.3}",
                }
            ]
        }
    ]
    if options.auth and options.api_socket is None:
        # Sign-in is on but nothing can hand out grants: closed, never open.
        routes.append({"handle": [SIGN_IN], "terminal": True})
    elif options.api_socket is not None and options.auth:
        routes += [
            exchange_route(options.api_socket),
            *grant_routes(options.grants_dir, grant),
            {
                "match": [{"vars": {GRANTED_PLACEHOLDER: [""]}}],
                "handle": [
                    {
                        "handler": "subroute",
                        "routes": [
                            *([token_user()] if options.forward_auth else []),
                            # (Two names in one ``vars`` matcher are any-of, not all-of.)
                            {
                                "match": [{"vars": {SESSION_USER_PLACEHOLDER: [""]}}],
                                "handle": [verify_proxy(options.api_socket)],
                            },
                        ],
                    }
                ],
            },
        ]
    removals = cookie_removals(f"(?:{grant}|{session})")
    forget_cookies = {"handler": "headers", "request": {"replace": {"Cookie": removals}}}
    routes += [
        route_file_lookup(options.routes_dir),
        *access_routes(None),
        *([ungranted_owner_check(admins)] if admins is not None else []),
        *([granted_cookie_removal(grant)] if options.auth else []),
        {
            "match": [{"vars": {PORT_PLACEHOLDER: [""]}}],
            "handle": [forget_cookies, proxy(f"{UPSTREAM_PLACEHOLDER}:{options.workspace_port}")],
            "terminal": True,
        },
        {"handle": [forget_cookies, proxy(f"{UPSTREAM_PLACEHOLDER}:{PORT_PLACEHOLDER}")]},
    ]
    return {
        "match": [matcher],
        "handle": [{"handler": "subroute", "routes": routes}],
        "terminal": True,
    }


def exchange_route(api_socket: Path) -> JSON:
    """``/_tidepool/exchange?code=...`` to the control plane, saying which origin it came to."""
    return {
        "match": [{"path": [EXCHANGE_PATH]}],
        "handle": [
            {"handler": "rewrite", "uri": f"{EXCHANGE_API_PATH}?{{http.request.uri.query}}"},
            {
                "handler": "reverse_proxy",
                **api_upstream(api_socket),
                "headers": {
                    "request": {
                        "set": {
                            VIA_HEADER: ["caddy"],
                            CLIENT_HEADER: [CLIENT_PLACEHOLDER],
                            HOST_HEADER: ["{http.request.host}"],
                        },
                        "delete": [USER_HEADER],
                    }
                },
            },
        ],
        "terminal": True,
    }


def grant_routes(grants_dir: Path, cookie: str) -> list[JSON]:
    """Mark the request granted when its cookie is a grant of this origin, and take the
    workspace's route from the grant's link when it has one (not terminal).

    The cookie's shape is checked first: only then does it become part of a path. One lookup
    of ``LABEL/COOKIE/route/*`` finds both the grant and the route (``tidepool.auth.grants``).
    A grant with no route behind its link (issued before links, or its workspace stopped) is
    still a grant, found by a ``stat``: its browser is told the workspace is not there rather
    than sent through the handshake again. (Reading the cookie once into a variable instead
    of in each matcher measured slower: one more handler.)
    """
    value = f"{{http.request.cookie.{cookie}}}"
    grant = f"/{LABEL_PLACEHOLDER}/{value}/"
    through_link = {
        "root": str(grants_dir.parent),
        "try_files": [f"/{grants_dir.name}{grant}{GRANT_ROUTE_LINK}/*"],
    }
    # One matcher set is all-of, whatever order Caddy checks it in: a cookie that is not a
    # token's shape (``../other/TOKEN``) fails it even if the file lookup found something.
    shaped = {value: {"pattern": f"^{GRANT_TOKEN_PATTERN}$"}}
    found_route = {"name": "granted", "pattern": GRANT_ROUTE_FILE_PATTERN}
    return [
        {
            "match": [{"vars_regexp": shaped, "file": through_link}],
            "handle": [
                {
                    "handler": "vars",
                    "tidepool_granted": "yes",
                    "tidepool_route": "{http.matchers.file.relative}",
                }
            ],
        },
        {
            # Nested, not one more matcher beside these: Caddy checks a matcher set in no
            # fixed order, and the ``stat`` is for requests the link did not admit alone.
            "match": [{"vars": {GRANTED_PLACEHOLDER: [""]}}],
            "handle": [
                {
                    "handler": "subroute",
                    "routes": [
                        {
                            "match": [
                                {
                                    "vars_regexp": shaped,
                                    "file": {"root": str(grants_dir), "try_files": [grant]},
                                }
                            ],
                            "handle": [{"handler": "vars", "tidepool_granted": "yes"}],
                        }
                    ],
                }
            ],
        },
        {
            "match": [{"vars_regexp": {ROUTE_PLACEHOLDER: found_route}}],
            "handle": [
                {
                    "handler": "vars",
                    "tidepool_upstream": "{http.regexp.granted.1}",
                    "tidepool_owner": "{http.regexp.granted.2}",
                }
            ],
        },
    ]


def granted_cookie_removal(cookie: str) -> JSON:
    """When the grant is the request's only cookie, drop the whole ``Cookie`` header: a
    header match is far cheaper than the regular expressions that take one cookie out of
    several (``cookie_removals``), and a browser holds nothing else for most workspaces.
    (A browser sends one ``Cookie`` header; HTTP/2's several are joined into one.)"""
    return {
        "match": [
            {"header": {"Cookie": [f"{cookie}=*"]}, "not": [{"header": {"Cookie": ["*;*"]}}]}
        ],
        "handle": [{"handler": "headers", "request": {"delete": ["Cookie"]}}],
    }


def ungranted_owner_check(admins: tuple[str, ...]) -> JSON:
    """Without a grant (an API token the control plane vouched for), someone else's
    workspace answers exactly like a missing one."""
    check = ownership_route(admins, SESSION_USER_PLACEHOLDER)
    check["match"][0]["vars"] = {GRANTED_PLACEHOLDER: [""]}
    return check


def origin_url(options: CaddyOptions, label: str) -> str:
    """The URL of the origin ``label`` (placeholders allowed), with the main host's scheme
    and port, for a ``Location`` header."""
    return f"{options.workspace_scheme}://{label}.{options.workspace_domain}{options.origin_port}"


def path_redirects(options: CaddyOptions) -> list[JSON]:
    """``/workspace/NAME/REST`` to ``NAME.DOMAIN/REST`` and ``/workspace/NAME/port/P/REST`` to
    ``P--NAME.DOMAIN/REST``, query kept (terminal). The rest is taken from the escaped URI
    after the prefix is stripped, so it is passed on exactly as it came."""
    ports = "|".join(str(p) for p in options.forward_ports)
    port_prefix = "/workspace/{http.regexp.wsport.1}/port/{http.regexp.wsport.2}"
    return [
        unsafe_path_route(),
        {
            "match": [
                {"path_regexp": {"name": "wsbare", "pattern": f"^/workspace/({NAME_PATTERN})$"}}
            ],
            "handle": [redirect(origin_url(options, "{http.regexp.wsbare.1}") + "/" + QUERY)],
            "terminal": True,
        },
        {
            "match": [
                {
                    "path_regexp": {
                        "name": "wsport",
                        "pattern": f"^/workspace/({NAME_PATTERN})/port/({ports})(/|$)",
                    }
                }
            ],
            "handle": [
                {"handler": "rewrite", "strip_path_prefix": port_prefix},
                redirect(
                    origin_url(options, "{http.regexp.wsport.2}--{http.regexp.wsport.1}")
                    + "{http.request.uri}"
                ),
            ],
            "terminal": True,
        },
        {
            "match": [
                {"path_regexp": {"name": "wsname", "pattern": f"^/workspace/({NAME_PATTERN})/"}}
            ],
            "handle": [
                {"handler": "rewrite", "strip_path_prefix": "/workspace/{http.regexp.wsname.1}"},
                redirect(origin_url(options, "{http.regexp.wsname.1}") + "{http.request.uri}"),
            ],
            "terminal": True,
        },
        {
            "match": [{"path": ["/workspace", "/workspace/*"]}],
            "handle": [NOT_FOUND],
            "terminal": True,
        },
    ]


def redirect(location: str) -> JSON:
    """A 302: the path URL is an address to look up, not where the workspace lives."""
    return {"handler": "static_response", "status_code": 302, "headers": {"Location": [location]}}
