"""``CaddyOptions``: what the config needs to know about this installation.

A plain frozen dataclass, so the config stays a pure function of it: ``bootstrap`` fills it
from the settings, tests build it by hand, and nothing here reads a setting or a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tidepool.adapters.caddy.config.variables import SESSION_USER_PLACEHOLDER, USER_PLACEHOLDER
from tidepool.domain.ide import FORWARD_PORTS, WORKSPACE_PORT

DEFAULT_FORWARD_PORTS = FORWARD_PORTS


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
    #: When set, each workspace is an origin of its own: ``{name}.{workspace_domain}`` (the
    #: IDE) and ``{port}--{name}.{workspace_domain}`` (a forwarded port), reached with the
    #: main host's scheme and port (``workspace_scheme``, ``origin_port``).
    workspace_domain: str = ""
    workspace_scheme: str = "http"
    #: ``:PORT`` in a workspace origin's URL ("" for the scheme's default port).
    origin_port: str = ""
    #: Serve ``/workspace/{name}/`` on the main host (one origin for all); when False (and
    #: ``workspace_domain`` is set) those paths redirect to the workspace's origin.
    serve_paths: bool = True
    #: ``auth = "forward_auth"``: the control plane signs people in; Caddy knows live sessions
    #: from its session map and asks the control plane (``/api/auth/verify``) about the rest.
    forward_auth: bool = False
    #: The host names this installation answers to (the public URL's, loopback's, the
    #: domain's; workspace origins are added from ``workspace_domain``). A request naming any other
    #: host gets 421: a name an attacker points at this address (DNS rebinding) reaches
    #: nothing. Empty: any host (a test's hand-built options).
    hosts: tuple[str, ...] = ()

    @property
    def routes_dir(self) -> Path:
        """Where ``CaddyRouteTable`` writes the routes and Caddy reads them: beside storage."""
        return self.storage_dir.parent / "routes"

    @property
    def grants_dir(self) -> Path:
        """Where the control plane writes workspace origins' grants and Caddy reads them."""
        return self.storage_dir.parent / "grants"

    @property
    def auth(self) -> bool:
        return self.users is not None or self.forward_auth

    @property
    def user_placeholder(self) -> str:
        """Where the signed-in user's name is, once the request got past sign-in."""
        return SESSION_USER_PLACEHOLDER if self.forward_auth else USER_PLACEHOLDER
