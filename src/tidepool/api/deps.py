"""What route handlers get injected: the control plane's services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from tidepool.adapters.caddy.config import USER_HEADER
from tidepool.ports import WorkspaceStore
from tidepool.services.workspaces import WorkspaceService


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """Everything the API needs, built once by ``bootstrap`` (or by a test with fakes)."""

    workspaces: WorkspaceService
    store: WorkspaceStore
    public_url: str
    #: Seconds between reads of the event log while a client follows it.
    event_poll: float = 0.25
    #: True when Caddy authenticates users (``auth = "basic"``).
    auth: bool = False
    #: The current admins (read when needed: users change while Tidepool runs).
    admins: Callable[[], frozenset[str]] = frozenset


def get_control_plane(request: Request) -> ControlPlane:
    plane: ControlPlane = request.app.state.control_plane
    return plane


Plane = Annotated[ControlPlane, Depends(get_control_plane)]

#: The owner of everything when authentication is off, and the host's own identity.
LOCAL_OWNER = "local"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is from, as Caddy vouched for it."""

    name: str
    admin: bool

    def may_see(self, owner: str) -> bool:
        return self.admin or owner == self.name


def get_identity(request: Request, plane: Plane) -> Identity:
    """Caddy always sets ``X-Tidepool-User`` (replacing anything a client sent); a request
    without it came straight through the API's unix socket, which only root on the host can
    open: the host acts as admin, or as the user it names there.
    """
    header = request.headers.get(USER_HEADER)
    if header is None:
        return Identity(LOCAL_OWNER, admin=True)
    if not plane.auth:
        return Identity(LOCAL_OWNER, admin=True)
    if not header:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in required.")
    return Identity(header, admin=header in plane.admins())


Me = Annotated[Identity, Depends(get_identity)]
