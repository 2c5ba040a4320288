"""The pages Caddy answers with itself: unknown workspace, bad path, sign-in, nothing answering.

Each is a small, self-contained HTML page (no asset to fetch, so it works when nothing behind
Caddy does) served as a ``static_response``. They live apart from the routes that use them so
that every refusal reads the same and can be checked in one place.
"""

from __future__ import annotations

import html

from tidepool.adapters.caddy.config.variables import JSON


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
SIGN_IN = page(401, "Sign in required", "Sign in with your Tidepool user name and password.")


def error_routes() -> list[JSON]:
    """Pages for errors raised inside Caddy: sign-in required, or an upstream not answering."""
    return [
        {"match": [{"vars": {"{http.error.status_code}": ["401"]}}], "handle": [SIGN_IN]},
        {"handle": [UPSTREAM_DOWN]},
    ]
