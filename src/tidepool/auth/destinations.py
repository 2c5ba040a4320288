"""Where a browser may be sent after signing in, and which hosts share the session cookie.

After sign-in the browser goes back to where it came from (``next``), which must be a page of
this Tidepool: a path on the main host, or a workspace origin (``NAME.WORKSPACE_DOMAIN``,
``PORT--NAME.WORKSPACE_DOMAIN``, at this installation's scheme and port) of a workspace the
user may open. Anything else becomes the web app, so a link cannot use the
sign-in page to send people elsewhere.

The check must read ``next`` exactly as the browser will, or the two disagree about where it
leads: ``/\\t/evil.example/`` is a path to Python's ``urlsplit`` and ``//evil.example/`` to a
browser, which drops tabs and newlines anywhere. So ``parse_destination`` follows the URL
Standard (WHATWG) for the parts that decide the host: leading and trailing C0 controls and
spaces stripped, tabs and newlines removed, ``\\`` read as ``/``, any run of slashes after a
scheme or at the start of a path-less reference opening an authority, ``@`` ending userinfo,
``.``/``..`` segments (also percent-encoded) resolved. Where it is unsure it refuses: a
scheme not followed by ``//``, userinfo, and any host that is not plain lowercase ASCII
letters, digits, dots and hyphens (percent-encoded, internationalised or numeric look-alike
hosts would need the browser's host parser to agree with ours, and a refusal costs nothing:
the user lands on the web app). What is allowed comes back serialized the way the browser
would serialize it, so the string the browser gets is the one that was checked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidepool.domain.origins import WorkspaceAddresses

HOME = "/app/"

#: Stripped from both ends of a URL by browsers (C0 controls and the space).
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
#: Removed from anywhere in a URL by browsers.
_TAB_AND_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: The only hosts we compare: lowercase DNS labels (a host name or a dotted IPv4 address).
_PLAIN_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})
#: The URL Standard's percent-encode sets (beyond C0 controls and non-ASCII, always encoded).
_FRAGMENT_SET = frozenset(' "<>`')
_QUERY_SET = frozenset(" \"#<>'")  # the special-query set: http and https are special
_PATH_SET = frozenset(' "#<>?`{}')
#: The page ``next`` is resolved against: the sign-in page (its query is not known here).
_BASE_PATH = ("app", "login", "")


@dataclass(frozen=True, slots=True)
class Site:
    """What the browser is on when it signs in.

    ``hosts`` are the main host's names as ``host`` or ``host:port`` (lowercase, no default
    port): the request's ``Host`` and the configured public URL's. ``workspaces`` is None
    where no workspace origin is a destination.
    """

    hosts: frozenset[str]
    workspaces: WorkspaceAddresses | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """Where ``next`` leads: ``url`` is what the browser is sent to (a path on the main host,
    or a workspace origin's URL); ``workspace`` names that origin's workspace, which the user
    must be allowed to open before ``url`` is handed out, and ``host`` is the origin's
    ``Host`` (both None for the main host); ``path_and_query`` is the path there."""

    url: str
    workspace: str | None = None
    host: str | None = None
    path_and_query: str = ""


def host_name(host: str) -> str:
    """``host[:port]`` without the port, lowercased."""
    return host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host.lower()


def site_host(netloc: str, scheme: str = "") -> str:
    """``netloc`` as ``Site.hosts`` holds it: lowercase, without ``scheme``'s default port."""
    host = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default and host.endswith(f":{default}") and not host.endswith("]"):
        host = host.removesuffix(f":{default}")
    return host


async def safe_destination(
    asked: str, site: Site, may_open: Callable[[str], Awaitable[bool]]
) -> str:
    """Where the browser goes after signing in: ``asked`` as the browser would open it, if it
    is a page of this Tidepool the user may open (``may_open`` answers for a workspace
    name), else ``HOME``. A refused ``asked`` is never part of the answer."""
    found = parse_destination(asked, site)
    if found is None:
        return HOME
    if found.workspace is not None and not await may_open(found.workspace):
        return HOME
    return found.url


def parse_destination(asked: str, site: Site) -> Destination | None:
    """Where a browser on ``site``'s sign-in page goes with ``location.assign(asked)``, if
    that is on the main host or a workspace origin; None for anywhere else or anything
    unclear."""
    text = asked.strip(_C0_AND_SPACE).translate(_TAB_AND_NEWLINE)
    if not text:
        return None
    scheme = ""
    found = _SCHEME.match(text)
    if found is not None:
        scheme = found.group()[:-1].lower()
        text = text[found.end() :]
        # ``http:evil`` means ``http://evil`` to a browser on https, and a path to one on
        # http: only the ``//`` form reads the same on both.
        if scheme not in _DEFAULT_PORTS or not text.startswith("//"):
            return None
    if scheme or text[:2] in ("//", "/\\", "\\/", "\\\\"):
        return _with_authority(scheme, text.lstrip("/\\"), site)
    if text.startswith(("/", "\\")):
        return _on_main_host(*_split(text, []))
    if text.startswith(("?", "#")):
        return _on_main_host(*_split(text, list(_BASE_PATH)))
    return _on_main_host(*_split("/" + text, list(_BASE_PATH[:-1])))


def _with_authority(scheme: str, text: str, site: Site) -> Destination | None:
    """An absolute URL (``scheme`` "" for a protocol-relative one), ``text`` after the
    slashes: its host decides."""
    end = next((i for i, c in enumerate(text) if c in "/\\?#"), len(text))
    authority, rest = text[:end], text[end:]
    if "@" in authority:
        return None  # userinfo: no page of Tidepool needs it, and it hides the real host
    host, colon, port = authority.partition(":")
    host = host.lower()
    if not _PLAIN_HOST.fullmatch(host) or (colon and not _valid_port(port)):
        return None
    port = str(int(port)) if port else ""
    if port and port == _DEFAULT_PORTS.get(scheme):
        port = ""
    netloc = f"{host}:{port}" if port else host
    path, query, fragment = _split(rest, [])
    if netloc in site.hosts:
        return _on_main_host(path, query, fragment)
    return _in_workspace(scheme, netloc, _serialize(path, query, None), site.workspaces)


def _on_main_host(path: list[str], query: str | None, fragment: str | None) -> Destination | None:
    """A page on the main host, kept as a path (so the browser stays on the origin it is on).
    A path starting ``//`` would read as another host when the browser opens it: refused."""
    serialized = _serialize(path, query, fragment)
    if serialized.startswith("//"):
        return None
    return Destination(serialized, path_and_query=_serialize(path, query, None))


def _valid_port(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and int(port) <= 65535)


def _in_workspace(
    scheme: str, netloc: str, path_and_query: str, workspaces: WorkspaceAddresses | None
) -> Destination | None:
    """A workspace origin's page: the host must be one this installation serves, exactly as
    it names it (scheme and port included), or it is somewhere else."""
    # A protocol-relative URL's scheme is the page's: refused, as it reads two ways.
    if workspaces is None or not workspaces.origins or scheme != workspaces.scheme:
        return None
    found = workspaces.parse_host(netloc)
    if found is None or netloc != workspaces.host(found.name, found.port):
        return None
    url = f"{workspaces.scheme}://{netloc}{path_and_query}"
    return Destination(url, found.name, netloc, path_and_query)


def _split(text: str, base: list[str]) -> tuple[list[str], str | None, str | None]:
    """Path segments, query and fragment of ``text`` (a path-absolute reference, or a query or
    fragment only when ``base`` is given), with dot segments resolved against ``base``."""
    fragment: str | None = None
    query: str | None = None
    if "#" in text:
        text, fragment = text.split("#", 1)
    if "?" in text:
        text, query = text.split("?", 1)
    if not text:
        return base, query, fragment
    path = list(base)
    segments = re.split(r"[/\\]", text)[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        lowered = segment.lower()
        if lowered in _DOUBLE_DOT:
            if path:
                path.pop()
            if last:
                path.append("")
        elif lowered in _SINGLE_DOT:
            if last:
                path.append("")
        else:
            path.append(segment)
    return path, query, fragment


def _serialize(path: list[str], query: str | None, fragment: str | None) -> str:
    url = "/" + "/".join(_encode(segment, _PATH_SET) for segment in path)
    if query is not None:
        url += "?" + _encode(query, _QUERY_SET)
    if fragment is not None:
        url += "#" + _encode(fragment, _FRAGMENT_SET)
    return url


def _encode(text: str, extra: frozenset[str]) -> str:
    """Percent-encode as browsers do: C0 controls, non-ASCII (as UTF-8) and ``extra``;
    existing ``%XX`` sequences are left alone. A lone surrogate (JSON allows one) becomes
    U+FFFD, as it does when a browser turns the string into a URL."""
    return "".join(_percent(c, extra) for c in text)


def _percent(c: str, extra: frozenset[str]) -> str:
    if " " < c < "\x7f" and c not in extra:
        return c
    if "\ud800" <= c <= "\udfff":
        c = "\ufffd"
    return "".join(f"%{b:02X}" for b in c.encode("utf-8"))
