"""What route handlers get injected: the control plane's services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

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


def get_control_plane(request: Request) -> ControlPlane:
    plane: ControlPlane = request.app.state.control_plane
    return plane


Plane = Annotated[ControlPlane, Depends(get_control_plane)]

#: The owner of everything until authentication arrives: one local user.
LOCAL_OWNER = "local"
