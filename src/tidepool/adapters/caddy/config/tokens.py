"""API tokens Caddy admits without asking: the token map (``forward_auth`` only).

A script, ``tidepool ssh`` or a port forward reaches a workspace with an API token and no
grant. Asking the control plane about the token on every request cost three quarters of the
proxy's throughput (``bench/proxy.py``), so the control plane teaches Caddy each token it has
vouched for (``verify``) and makes Caddy forget it when it stops being good: at once when it
is revoked through the API, within ``TOKEN_SWEEP_SECONDS`` when it is revoked by root's CLI,
expires, or its user is removed (``tidepool.auth.token_cache``).

The map's key is the whole ``Authorization`` header exactly as the control plane saw it, and
its only value the token's user: another spelling of the same token is simply not found, and
goes on to the control plane as before. Entries are addressed by the token's id, so a token
is forgotten without knowing its secret.

The map handler itself (``token_map``) runs first on every request with a bearer token and
only registers the lookup; the lookup happens where a route reads ``TOKEN_LOOKUP``
(``token_user``), after the grant and the session map had their say.
"""

from __future__ import annotations

from tidepool.adapters.caddy.config.variables import JSON, SESSION_USER_PLACEHOLDER

TOKENS_ID = "tidepool-tokens"
TOKEN_ID_PREFIX = "tidepool-token-"  # noqa: S105 (a config id, no secret)
TOKEN_LOOKUP = "{tidepool.token_user}"  # noqa: S105 (a placeholder, no secret)
#: Requests that present a bearer token: only they pay for the map.
BEARER: JSON = {"header": {"Authorization": ["Bearer *"]}}


def token_map() -> JSON:
    """The token map: registers ``TOKEN_LOOKUP`` for the routes after it (not terminal)."""
    return {
        "match": [BEARER],
        "handle": [
            {
                "handler": "map",
                "@id": TOKENS_ID,
                "source": "{http.request.header.Authorization}",
                "destinations": [TOKEN_LOOKUP],
                "defaults": [""],
                "mappings": [],
            }
        ],
    }


def token_user() -> JSON:
    """Set the user from the token map when nothing else named one; not terminal. The verify
    route after it sees the user still empty for a token Caddy was not taught."""
    return {
        "match": [{"vars": {SESSION_USER_PLACEHOLDER: [""]}, **BEARER}],
        "handle": [{"handler": "vars", "tidepool_user": TOKEN_LOOKUP}],
    }


def token_mapping(token_id: str, authorization: str, user: str) -> JSON:
    """One token the control plane vouched for, addressed by its id (never by its secret)."""
    return {"@id": token_entry_id(token_id), "input": authorization, "outputs": [user]}


def token_entry_id(token_id: str) -> str:
    return f"{TOKEN_ID_PREFIX}{token_id}"


def token_id_of(entry_id: str) -> str:
    """The token id a token map entry's id carries ("" for anything else)."""
    token_id = entry_id.removeprefix(TOKEN_ID_PREFIX)
    return token_id if token_id != entry_id else ""
