"""``/api/workspaces/NAME/ssh/authorize``: the SSH tunnel's door, decided here.

A tunnel is a WebSocket to ``/api/workspaces/NAME/ssh`` on the main host. Caddy asks this
route first (as it asks ``/api/auth/verify`` for a workspace's page), with the request's own
credentials: the same identity, the same visibility and the same audit log as every other
workspace action (``WorkspaceService.ssh_target``). Admitted, the answer names where the
bytes go, and Caddy carries them there itself: they never pass through ``serve``, so an open
SSH session outlives ``tidepool service restart`` as an open IDE terminal does.

Root on the host asks the same question over the API's socket, and connects to the bridge
itself (``tidepool ssh`` on the host needs no token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from tidepool.api.clients import client_address
from tidepool.api.deps import Plane, get_identity
from tidepool.api.problems import declared
from tidepool.api.schemas import NAME_RULE
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.ide import SSH_BRIDGE_PORT
from tidepool.edge import TUNNEL_HEADER

router = APIRouter(prefix="/workspaces", tags=["ssh"], responses=declared(400, 401, 404, 422))
Name = Annotated[str, Path(json_schema_extra=NAME_RULE)]


@router.get(
    "/{name}/ssh/authorize",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=declared(403, 409),
)
async def authorize_ssh(name: Name, request: Request, plane: Plane) -> Response:
    """204 with where the tunnel's bytes go, if the caller may open one into ``name`` now.

    An attempt without a good credential, or from a web page, is in the audit log too (as
    nobody, from where it came): a tunnel is a shell, and someone knocking is worth seeing."""
    try:
        if "origin" in request.headers:
            # Browsers send ``Origin`` with every WebSocket, ssh's ProxyCommand does not: a
            # page (one a workspace serves, say) must not open a shell's door with the
            # viewer's session cookie.
            raise HTTPException(status.HTTP_403_FORBIDDEN, "SSH tunnels are not for web pages.")
        me = await get_identity(request, plane)
    except HTTPException as refused:
        entry = AuditEntry(
            "workspace.ssh",
            "",
            name,
            Outcome.DENIED,
            address=client_address(request),
            detail=str(refused.detail),
        )
        await plane.record(entry)
        raise
    workspace = await plane.workspaces.ssh_target(name, who=me)
    tunnel = f"{workspace.address}:{SSH_BRIDGE_PORT}"
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={TUNNEL_HEADER: tunnel})
