"""Which browser session a request is from, when a workspace's page can plant cookies.

Over plain HTTP on a real host name, a page a workspace serves (``bobs.tp.test``) may set a
cookie for the parent domain (``Domain=tp.test``), and the browser then sends it to the main
host as well, before the viewer's own when its path is longer. A session cookie alone then
says nothing about whose browser this is: bob plants his own valid session in admin alice's
browser, and the API takes her for him (login CSRF, session fixation).

What a workspace's page can never touch is the main host's own storage and the headers the
main host's scripts send. So the web app keeps its session's proof (the session's CSRF token,
handed over at sign-in) in the main host's ``localStorage`` and sends it with every request;
where cookies can be planted (``cookies_can_be_planted``), a session cookie counts only with
its proof, and among several cookies the one the proof names is the browser's own. Where they
cannot (under TLS every Tidepool cookie carries ``__Host-``, which the browser keeps
host-only; an IP address takes no ``Domain`` cookie), the cookie alone still counts, but two
different sessions in one request are refused, never guessed between.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from tidepool.auth.authenticator import Principal

#: The query parameter that carries the proof where a browser cannot add a header (an
#: ``EventSource``); read for requests that change nothing.
PROOF_PARAMETER = "csrf_token"


def cookies_can_be_planted(public_url: str, tls: bool) -> bool:
    """True when a workspace's page could set a cookie the main host receives: plain HTTP
    and a main host named by a name (its workspaces' names share its parent domain, or may).
    ``localhost`` counts: one browser refuses ``Domain=localhost``, another takes it."""
    if tls:
        return False
    host = urlsplit(public_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def cookie_values(header: str, name: str) -> list[str]:
    """Every value the ``Cookie`` header carries under ``name``, in the order sent (a
    dictionary of cookies keeps one and hides the other)."""
    values = []
    for pair in header.split(";"):
        key, equals, value = pair.strip().partition("=")
        if equals and key == name and value:
            values.append(value.strip().removeprefix('"').removesuffix('"'))
    return values


def choose_session(
    principals: Sequence[Principal], proof: str | None, *, proof_required: bool
) -> Principal | None:
    """The browser's own session among those its cookies name, or None.

    With a proof, the session it belongs to (a planted one never matches: its owner's proof
    is in its owner's browser). Without one, or with one that matches none (a stale one left
    by an earlier sign-in), the single session the cookies name, unless ``proof_required``.
    """
    sessions = {p.session.key: (p.session.csrf_token, p) for p in principals if p.session}
    if proof:
        for csrf_token, principal in sessions.values():
            if hmac.compare_digest(csrf_token.encode(), proof.encode()):
                return principal
    if proof_required or len(sessions) != 1:
        return None
    return next(iter(sessions.values()))[1]
