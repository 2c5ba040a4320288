"""Where a workspace is opened: each workspace on an origin of its own.

The IDE of workspace ``alice`` is ``http://alice.WORKSPACE_DOMAIN:PORT/`` and its forwarded
port 8081 is ``http://8081--alice.WORKSPACE_DOMAIN:PORT/``. An origin is the browser's unit
of trust: script served by one workspace (a dev server, an extension's webview) cannot read
the control plane's pages, another workspace's, or the session that signed the viewer in,
because those are other origins. On ``localhost`` this needs no DNS: browsers resolve
``*.localhost`` to loopback.

The seed's path URLs (``/workspace/NAME/``) are one origin for everything; they still work,
as redirects to the workspace's origin, or served in place where only one user is possible
(``WorkspaceAddresses.paths``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tidepool.domain.names import NAME_PATTERN

#: Where a workspace origin takes its one-time sign-in code (never forwarded to the workspace).
EXCHANGE_PATH = "/_tidepool/exchange"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class WorkspaceHost:
    """A host name that is a workspace origin: the workspace, and the port it forwards
    (None for the IDE). ``label`` is the host's first label, the origin's own name."""

    name: str
    port: int | None

    @property
    def label(self) -> str:
        return self.name if self.port is None else f"{self.port}--{self.name}"


@dataclass(frozen=True, slots=True)
class WorkspaceAddresses:
    """How this installation names a workspace's IDE and forwarded ports.

    ``domain`` empty (or ``paths`` True): the path URLs under ``base_url``, one origin for
    everything. Otherwise ``LABEL.domain`` with ``base_url``'s scheme and port.
    """

    base_url: str
    domain: str = ""
    forward_ports: tuple[int, ...] = ()
    #: Serve workspaces under ``/workspace/NAME/`` on the main host (one user, or opted in).
    paths: bool = False

    @property
    def origins(self) -> bool:
        return bool(self.domain) and not self.paths

    @property
    def scheme(self) -> str:
        return self.base_url.split("://", 1)[0]

    @property
    def port_suffix(self) -> str:
        """``:PORT`` as the main host has it, "" for the scheme's default port."""
        authority = self.base_url.split("://", 1)[1].split("/", 1)[0]
        if authority.endswith("]") or ":" not in authority:
            return ""
        port = authority.rsplit(":", 1)[1]
        return "" if int(port) == _DEFAULT_PORTS.get(self.scheme) else f":{port}"

    def host(self, name: str, port: int | None = None) -> str:
        """``LABEL.domain[:port]``: what the browser sends as ``Host`` for this origin."""
        return f"{WorkspaceHost(name, port).label}.{self.domain}{self.port_suffix}"

    def ide_url(self, name: str) -> str:
        if not self.origins:
            return f"{self.base_url}/workspace/{name}/"
        return f"{self.scheme}://{self.host(name)}/"

    def port_url(self, name: str, port: int) -> str:
        if not self.origins:
            return f"{self.base_url}/workspace/{name}/port/{port}/"
        return f"{self.scheme}://{self.host(name, port)}/"

    def parse_host(self, host: str) -> WorkspaceHost | None:
        """The workspace origin ``host`` (a ``Host`` header: lowercase name, optional port)
        names, or None when it is not one of this installation's."""
        if not self.domain:
            return None
        return parse_workspace_host(host, self.domain, self.forward_ports)


def workspace_host_pattern(domain: str, forward_ports: tuple[int, ...]) -> str:
    """The regular expression a workspace origin's ``Host`` matches (Caddy uses it too):
    group 1 the label, 2 the forwarded port (empty for the IDE), 3 the workspace's name."""
    ports = "|".join(str(p) for p in forward_ports) or "0"
    return f"^((?:({ports})--)?({NAME_PATTERN}))\\.{re.escape(domain)}(?::[0-9]{{1,5}})?$"


def parse_workspace_host(
    host: str, domain: str, forward_ports: tuple[int, ...]
) -> WorkspaceHost | None:
    found = re.fullmatch(workspace_host_pattern(domain, forward_ports), host.lower())
    if found is None:
        return None
    port = found.group(2)
    return WorkspaceHost(found.group(3), int(port) if port else None)
