"""Where a browser may be sent after signing in, and which hosts share the session cookie.

Pure functions of strings, so the rules are tested on their own. After sign-in the browser
goes back to where it came from, which must be a page of this Tidepool: a path on this host,
or a preview host (``PORT--NAME.PREVIEW_DOMAIN``). Anything else (another site, a
``//host`` path, a ``javascript:`` URL) becomes the web app, so a link cannot use the sign-in
page to send people elsewhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/app/"


def host_name(host: str) -> str:
    """``host[:port]`` without the port, lowercased."""
    return host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host.lower()


def is_preview_host(host: str, preview_domain: str) -> bool:
    return bool(preview_domain) and host_name(host).endswith(f".{preview_domain}")


def safe_destination(destination: str, preview_domain: str) -> str:
    """``destination`` if it is a page of this Tidepool, else the web app."""
    if destination.startswith("/") and not destination.startswith(("//", "/\\")):
        return destination
    parts = urlsplit(destination)
    if parts.scheme in ("http", "https") and is_preview_host(parts.netloc, preview_domain):
        return destination
    return HOME


def cookie_domain(request_host: str, domain: str, preview_domain: str) -> str | None:
    """The ``Domain`` of the session cookie: ``domain`` when preview hosts live under it and
    the browser is on it (so the cookie reaches ``PORT--NAME.PREVIEW_DOMAIN``); otherwise
    None, a cookie for this host alone."""
    if not domain or not preview_domain:
        return None
    if preview_domain != domain and not preview_domain.endswith(f".{domain}"):
        return None
    host = host_name(request_host)
    return domain if host == domain or host.endswith(f".{domain}") else None
