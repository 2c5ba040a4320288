"""Where the IDE lives inside a workspace: a fact of the workspace image, not of the proxy.

Every image runs code-server on this port; the proxy routes to it and the services probe its
health there. Both take it from here, so neither has to import the other. A desktop IDE comes
in over SSH instead, through the SSH bridge: the image build and the tunnel take its port from
here too.
"""

from __future__ import annotations

#: The port code-server listens on inside every workspace.
WORKSPACE_PORT = 8080
#: The SSH bridge's port inside every Debian workspace: each WebSocket accepted there is relayed
#: as raw bytes (binary frames) to the workspace's sshd, which listens on loopback only.
SSH_BRIDGE_PORT = 2222
#: Ports inside a workspace a browser may reach (dev servers): each at its own origin,
#: ``PORT--NAME.WORKSPACE_DOMAIN``, or at ``/workspace/NAME/port/PORT/``.
FORWARD_PORTS = (8081, 8082, 8083, 8084, 8085)
