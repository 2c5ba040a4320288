"""No change through a visitor's browser from another page's origin, in any sign-in mode.

A browser sends its credentials on its own: the session cookie (``forward_auth``), the basic
auth it remembered, or none at all on a loopback host without sign-in, where every page the
visitor opens can reach ``localhost``. So a request that changes something (any method but
GET, HEAD, OPTIONS) is refused when the browser says it came from another origin:
``Sec-Fetch-Site`` ``cross-site`` or ``same-site`` (a sibling host, such as a workspace's
preview), or an ``Origin`` that is not this request's own host. Scripts and the CLI send
neither header and hold their own credentials; they pass. This is the check the
``forward_auth`` CSRF token already made for sessions, now for every mode.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from tidepool.api import problems

#: Methods that change nothing.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: What ``Sec-Fetch-Site`` says for a request another origin's page made.
FOREIGN_SITES = frozenset({b"cross-site", b"same-site"})


def foreign_origin(headers: list[tuple[bytes, bytes]]) -> str:
    """Why the request came from another origin's page ("" if it did not, or cannot say)."""
    found = {name: value for name, value in headers if name in (b"sec-fetch-site", b"origin")}
    site = found.get(b"sec-fetch-site")
    if site in FOREIGN_SITES:
        return f"Sec-Fetch-Site is {site.decode()}"
    origin = found.get(b"origin")
    if origin is None:
        return ""
    host = dict(headers).get(b"host", b"").decode("latin-1").lower()
    try:
        netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
    except ValueError:
        netloc = ""
    return "" if netloc and netloc == host else f"Origin {origin.decode('latin-1')!r}"


class SameOriginWrites:
    """A plain ASGI wrapper (no per-request task): refuse a foreign page's change with 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            reason = foreign_origin(scope["headers"])
            if reason:
                response = problems.problem(
                    403,
                    "Cross-origin request refused",
                    f"Changes are accepted only from Tidepool's own pages ({reason}).",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
