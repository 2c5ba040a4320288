"""``/api/workspaces``: translate HTTP to service calls and back, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from tidepool.api.deps import Identity, Me, Plane
from tidepool.api.schemas import WorkspaceCreate, WorkspacePublic, WorkspacesPublic
from tidepool.api.sse import all_events_stream, event_stream
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.errors import NotFoundError

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=WorkspacePublic)
async def create_workspace(
    body: WorkspaceCreate, plane: Plane, me: Me, response: Response
) -> WorkspacePublic:
    """Create a workspace; it starts in ``pending`` and the worker brings it up."""
    workspace = await plane.workspaces.create(body.name, owner=me.name, image=body.image)
    response.headers["Location"] = f"/api/workspaces/{workspace.name}"
    return WorkspacePublic.of(workspace, plane.public_url)


@router.get("", response_model=WorkspacesPublic)
async def list_workspaces(
    plane: Plane,
    me: Me,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    owner = None if me.admin else me.name
    page = await plane.workspaces.list(
        status=status_filter, owner=owner, limit=limit, offset=offset
    )
    body = WorkspacesPublic(
        items=[WorkspacePublic.of(w, plane.public_url) for w in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )
    # Serialized once, here: FastAPI would validate the page again before dumping it, which
    # doubled the cost of the busiest endpoint.
    return Response(body.model_dump_json(), media_type="application/json")


async def _visible(name: str, plane: Plane, me: Identity) -> Workspace:
    """The workspace if ``me`` may see it; someone else's answers 404, so names don't leak."""
    workspace = await plane.workspaces.get(name)
    if not me.may_see(workspace.owner):
        raise NotFoundError(f"No workspace named {name!r}.")  # word for word the store's
    return workspace


@router.get("/{name}", response_model=WorkspacePublic)
async def get_workspace(name: str, plane: Plane, me: Me) -> WorkspacePublic:
    return WorkspacePublic.of(await _visible(name, plane, me), plane.public_url)


async def _act(name: str, action: Action, plane: Plane, me: Identity) -> WorkspacePublic:
    await _visible(name, plane, me)
    return WorkspacePublic.of(await plane.workspaces.request(name, action), plane.public_url)


@router.post("/{name}/start", status_code=status.HTTP_202_ACCEPTED, response_model=WorkspacePublic)
async def start_workspace(name: str, plane: Plane, me: Me) -> WorkspacePublic:
    return await _act(name, Action.START, plane, me)


@router.post("/{name}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=WorkspacePublic)
async def stop_workspace(name: str, plane: Plane, me: Me) -> WorkspacePublic:
    return await _act(name, Action.STOP, plane, me)


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED, response_model=WorkspacePublic)
async def delete_workspace(name: str, plane: Plane, me: Me) -> WorkspacePublic:
    """Delete the workspace and its instance; deleting twice is harmless."""
    return await _act(name, Action.DELETE, plane, me)


@router.get("/{name}/events", response_class=StreamingResponse)
async def workspace_events(
    name: str,
    plane: Plane,
    me: Me,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> StreamingResponse:
    """Server-sent events: each status change and each start-up phase, as they happen."""
    workspace = await _visible(name, plane, me)
    return StreamingResponse(
        event_stream(plane.store, workspace.id, last_event_id, plane.event_poll, workspace.name),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


events_router = APIRouter(tags=["workspaces"])


@events_router.get("/events", response_class=StreamingResponse)
async def all_events(
    plane: Plane,
    me: Me,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> StreamingResponse:
    """Server-sent events of every workspace the user may see: the web app's live feed."""
    names: dict[str, str | None] = {}

    async def visible(workspace_id: str) -> str | None:
        if workspace_id not in names:
            try:
                workspace = await plane.store.get_by_id(workspace_id)
            except NotFoundError:
                names[workspace_id] = None
            else:
                names[workspace_id] = workspace.name if me.may_see(workspace.owner) else None
        return names[workspace_id]

    return StreamingResponse(
        all_events_stream(plane.store, visible, last_event_id, plane.event_poll),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
