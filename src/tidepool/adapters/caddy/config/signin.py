"""Who a request is from: basic auth, ``forward_auth`` sessions, and what the API is told.

Two ways to sign in, chosen by ``auth`` in the settings:

- ``basic``: Caddy checks a user name and bcrypt hash itself (``auth_route``), with a hash
  cache so bcrypt runs once per credential, not per request;
- ``forward_auth``: the control plane signs people in and sets the session cookie; Caddy
  keeps a map of live sessions (``session_routes``) and one of API tokens (``tokens``), and
  asks the control plane only about a credential it does not know yet (``verify_proxy``).
  The map's entries are addressed by the session's hash (``session_id``), so ending a
  session never needs its token.

Whatever the way, the API learns the user from ``USER_HEADER`` and that the request came
through Caddy from ``VIA_HEADER`` (``api_routes``); those names are the contract in
``tidepool.edge``, which the API imports too.
"""

from __future__ import annotations

from pathlib import Path

from tidepool.adapters.caddy.config.tokens import token_user
from tidepool.adapters.caddy.config.variables import (
    JSON,
    SESSION_USER_PLACEHOLDER,
    USER_PLACEHOLDER,
)
from tidepool.edge import (
    CLIENT_HEADER,
    HOST_HEADER,
    KEY_PREFIX_LENGTH,
    SESSION_COOKIE,
    USER_HEADER,
    VIA_HEADER,
)

AUTH_ID = "tidepool-auth"
SESSIONS_ID = "tidepool-sessions"
SESSION_ID_PREFIX = "tidepool-session-"
SESSION_LOOKUP = "{tidepool.session_user}"
VERIFY_PATH = "/api/auth/verify"


def cookie_removals(name: str) -> list[JSON]:
    """Take cookie ``name`` (a regular expression) out of a ``Cookie`` header, first or
    anywhere after another, in one pass: each pass costs every proxied request."""
    return [
        {"search_regexp": f"(?:^|;)\\s*{name}=[^;]*", "replace": ""},
        {"search_regexp": "^\\s*;\\s*", "replace": ""},  # what the first one left in front
    ]


SESSION_COOKIE_REMOVALS = cookie_removals(SESSION_COOKIE)
#: The address of the peer that sent the request: Caddy's own view, never a client's header
#: (unlike ``{http.request.client_ip}``, which trusted proxies could set).
CLIENT_PLACEHOLDER = "{http.request.remote.host}"
PROTECTED_PATHS = ["/api", "/api/*", "/app", "/app/*", "/workspace", "/workspace/*"]
#: How long Caddy holds a request while the control plane's socket refuses it (``serve``
#: restarting, ``tidepool service restart``): the request waits instead of failing.
API_WAIT = "15s"


def api_upstream(api_socket: Path) -> JSON:
    """The control plane as a ``reverse_proxy``'s upstream. A request it cannot be handed
    to (nothing listens: ``serve`` is restarting) is tried again every 100 ms for
    ``API_WAIT``. Caddy only retries what never reached the upstream, so nothing is ever
    done twice; and so each request has a connection of its own (a unix socket's connect
    costs microseconds): a kept-alive one that the old ``serve`` closed under a POST was a
    502, a refused connect is a wait."""
    return {
        "upstreams": [{"dial": f"unix/{api_socket}"}],
        "load_balancing": {"try_duration": API_WAIT, "try_interval": "100ms"},
        "transport": {"protocol": "http", "keep_alive": {"enabled": False}},
    }


def api_routes(api_socket: Path | None, user: str = USER_PLACEHOLDER) -> list[JSON]:
    """``/api/*`` and the web app ``/app/*`` to the control plane over its unix socket, with
    who the user is, that Caddy sent it, and the client's address (for sign-in limits)."""
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
                    **api_upstream(api_socket),
                    "flush_interval": -1,
                    # ``set`` replaces whatever the client sent under these names.
                    "headers": {
                        "request": {
                            "set": {
                                USER_HEADER: [user],
                                VIA_HEADER: ["caddy"],
                                CLIENT_HEADER: [CLIENT_PLACEHOLDER],
                                # Never the client's: the exchange trusts it for the origin.
                                HOST_HEADER: ["{http.request.host}"],
                            }
                        }
                    },
                }
            ],
            "terminal": True,
        },
    ]


def session_routes(api_socket: Path, cookie: str = SESSION_COOKIE) -> list[JSON]:
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
            "match": [{"path": ["/workspace", "/workspace/*"]}],
            "handle": [
                {
                    "handler": "map",
                    "@id": SESSIONS_ID,
                    "source": f"{{http.request.cookie.{cookie}}}",
                    "destinations": [SESSION_LOOKUP],
                    "defaults": [""],
                    "mappings": [],
                },
                # One lookup, now, while the cookie is still there.
                {"handler": "vars", "tidepool_user": SESSION_LOOKUP},
                {
                    "handler": "subroute",
                    "routes": [
                        token_user(),
                        {
                            "match": [{"vars": {SESSION_USER_PLACEHOLDER: [""]}}],
                            "handle": [verify_proxy(api_socket)],
                        },
                    ],
                },
                # A workspace never sees the session: a dev server an admin opens must not be
                # able to log the admin's cookie.
                {"handler": "headers", "request": {"replace": {"Cookie": cookie_removals(cookie)}}},
            ],
        }
    ]


def verify_proxy(api_socket: Path) -> JSON:
    """Ask the control plane who this is: a 2xx names the user and lets the request go on;
    anything else (a redirect to sign in, a 401) is the answer the client gets."""
    return ask_control_plane(
        api_socket,
        VERIFY_PATH,
        {
            "X-Forwarded-Method": ["{http.request.method}"],
            "X-Forwarded-Uri": ["{http.request.uri}"],
            VIA_HEADER: ["caddy"],
            HOST_HEADER: ["{http.request.host}"],
        },
        {"tidepool_user": USER_HEADER},
        forget=[USER_HEADER],
    )


def ask_control_plane(
    api_socket: Path,
    uri: str,
    headers: dict[str, list[str]],
    answers: dict[str, str],
    forget: list[str] | None = None,
) -> JSON:
    """A question to the control plane before the request goes on (Caddy's forward auth):
    ``uri`` asked with a GET carrying the request's own credentials and ``headers``; a 2xx
    sets each variable of ``answers`` from the response header it names and lets the
    request go on, anything else is the answer the client gets."""
    return {
        "handler": "reverse_proxy",
        **api_upstream(api_socket),
        "rewrite": {"method": "GET", "uri": uri},
        "headers": {
            "request": {
                "set": headers,
                # A WebSocket's question is a plain GET: with these, the control plane was
                # asked for a WebSocket, and refused it (403).
                "delete": [*(forget or []), "Connection", "Upgrade"],
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
                                **{
                                    name: f"{{http.reverse_proxy.header.{header}}}"
                                    for name, header in answers.items()
                                },
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


def auth_route(users: tuple[tuple[str, str], ...]) -> JSON:
    """Basic auth in front of everything but ``/``; ``hash_cache`` keeps bcrypt off the hot path.

    Not terminal: it authenticates, then the routes after it run with ``{http.auth.user.id}``.
    """
    return {
        "match": [{"path": PROTECTED_PATHS}],
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
