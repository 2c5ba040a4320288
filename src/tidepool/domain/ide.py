"""Where the IDE lives inside a workspace: a fact of the workspace image, not of the proxy.

Every image runs code-server on this port; the proxy routes to it and the services probe its
health there. Both take it from here, so neither has to import the other.
"""

from __future__ import annotations

#: The port code-server listens on inside every workspace.
WORKSPACE_PORT = 8080
#: Ports inside a workspace a browser may reach (dev servers): each at its own origin,
#: ``PORT--NAME.WORKSPACE_DOMAIN``, or at ``/workspace/NAME/port/PORT/``.
FORWARD_PORTS = (8081, 8082, 8083, 8084, 8085)
