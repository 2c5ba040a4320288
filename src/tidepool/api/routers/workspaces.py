"""``/api/workspaces``: translate HTTP to service calls and back, nothing more.

The list is the API's busiest request and is read far more often than workspaces change (each
load of the web app, the CLI, scripts), so its pages are kept as sent, per store, and sent
again while the store's ``change_marker`` says no workspace was written since (see
``RenderedPages``).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import JSONResponse, StreamingResponse

from tidepool.api.deps import Again, ControlPlane, Me, Plane, Recheck
from tidepool.api.problems import declared
from tidepool.api.schemas import (
    NAME_RULE,
    LogsPublic,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspacesPublic,
)
from tidepool.api.sse import all_events_stream, event_stream
from tidepool.domain.identity import Identity
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.ports import WorkspaceStore

router = APIRouter(prefix="/workspaces", tags=["workspaces"], responses=declared(401, 422))
#: A workspace's name in a path: the schema states the rule, the service enforces it (400).
Name = Annotated[str, Path(json_schema_extra=NAME_RULE)]
#: An action on a named workspace: a bad name, a credential that may not, none such, a state
#: that forbids it.
ACTION_PROBLEMS = declared(400, 403, 404, 409)
#: An SSE stream's 200, which FastAPI cannot tell from ``response_class``.
EVENT_STREAM: dict[int | str, dict[str, object]] = {
    200: {"description": "Server-sent events.", "content": {"text/event-stream": {}}}
}

#: What a list page's JSON depends on besides the stored workspaces: status, owner (None for
#: everyone's), limit, offset, and the public URL the workspaces' links start with.
PageKey = tuple[Status | None, str | None, int, int, str]
#: The store's change marker and the activity watch's version, read before a page is.
Marker = tuple[int, int]


class RenderedPages:
    """List pages as sent, each with the store's change marker read BEFORE the page was.

    A page is sent again only while the marker is still that one, so no write committed since
    it was read: never a page older than a write the client saw succeed. A page read while a
    write commits carries the older marker and is simply read again next time. Any write
    outdates every page; at most ``SIZE`` pages are kept, then all are dropped. The marker
    pairs the store's with the activity watch's version: a page also shows each workspace's
    activity, which lives in memory, not in the store.
    """

    SIZE = 256

    def __init__(self) -> None:
        self._pages: dict[PageKey, tuple[Marker, bytes]] = {}

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: PageKey, marker: Marker | None) -> bytes | None:
        kept = self._pages.get(key)
        if marker is None or kept is None or kept[0] != marker:
            return None
        return kept[1]

    def put(self, key: PageKey, marker: Marker | None, body: bytes) -> None:
        if marker is None:
            return
        if len(self._pages) >= self.SIZE:
            self._pages.clear()
        self._pages[key] = (marker, body)


#: One set of pages per store, gone with it (tests build many apps over many stores).
_rendered: weakref.WeakKeyDictionary[WorkspaceStore, RenderedPages] = weakref.WeakKeyDictionary()


def rendered_pages(store: WorkspaceStore) -> RenderedPages:
    pages = _rendered.get(store)
    if pages is None:
        pages = _rendered[store] = RenderedPages()
    return pages


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkspacePublic,
    responses=declared(400, 403, 409),
)
async def create_workspace(
    body: WorkspaceCreate, plane: Plane, me: Me, response: Response
) -> WorkspacePublic:
    """Create a workspace; it starts in ``pending`` and the worker brings it up."""
    workspace = await plane.workspaces.create(
        body.name,
        who=me,
        template=body.template,
        size=body.size,
        repository_url=body.repository,
        branch=body.branch,
    )
    response.headers["Location"] = f"/api/workspaces/{workspace.name}"
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)


@router.get("", response_model=WorkspacesPublic)
async def list_workspaces(
    plane: Plane,
    me: Me,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    key: PageKey = (status_filter, me.owner_filter, limit, offset, plane.public_url)
    pages = rendered_pages(plane.store)
    changed = await plane.store.change_marker()  # before the read: see RenderedPages
    marker = None if changed is None else (changed, plane.activity_version())
    # A token limited to named workspaces gets a page of its own, never a kept one.
    body = pages.get(key, marker) if me.workspaces is None else None
    if body is None:
        page = await plane.workspaces.list(who=me, status=status_filter, limit=limit, offset=offset)
        body = WorkspacesPublic.render(
            page, limit, offset, plane.ide_url, plane.activity_of, plane.template_image
        )
        if me.workspaces is None:
            pages.put(key, marker, body)
    # Serialized here, once: FastAPI would validate the page again before dumping it.
    return Response(body, media_type="application/json")


@router.get("/{name}", response_model=WorkspacePublic, responses=declared(400, 404))
async def get_workspace(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    return WorkspacePublic.of(
        await plane.workspaces.get(name, who=me),
        plane.ide_url,
        plane.activity_of,
        plane.template_image,
    )


async def _act(name: str, action: Action, plane: Plane, me: Identity) -> WorkspacePublic:
    workspace = await plane.workspaces.request(name, action, who=me)
    return WorkspacePublic.of(workspace, plane.ide_url, plane.activity_of, plane.template_image)


@router.post(
    "/{name}/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkspacePublic,
    responses=ACTION_PROBLEMS,
)
async def start_workspace(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    return await _act(name, Action.START, plane, me)


@router.post(
    "/{name}/stop",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkspacePublic,
    responses=ACTION_PROBLEMS,
)
async def stop_workspace(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    return await _act(name, Action.STOP, plane, me)


@router.delete(
    "/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkspacePublic,
    responses=ACTION_PROBLEMS,
)
async def delete_workspace(name: Name, plane: Plane, me: Me) -> WorkspacePublic:
    """Delete the workspace and its instance; deleting twice is harmless."""
    return await _act(name, Action.DELETE, plane, me)


@router.get(
    "/{name}/events",
    response_class=StreamingResponse,
    responses={**EVENT_STREAM, **declared(400, 404)},
)
async def workspace_events(
    name: Name,
    plane: Plane,
    me: Me,
    again: Again,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> StreamingResponse:
    """Server-sent events: each status change and each start-up phase, as they happen; the
    stream ends once the credential that opened it no longer stands for the same identity."""
    workspace = await plane.workspaces.get(name, who=me, purpose="events")
    return _sse(_events_of(workspace, plane, me, again, last_event_id))


@router.get(
    "/{name}/logs",
    response_model=LogsPublic,
    responses={**EVENT_STREAM, **declared(400, 404)},
)
async def workspace_logs(
    name: Name,
    plane: Plane,
    me: Me,
    again: Again,
    follow: bool = False,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> Response:
    """The workspace's setup log (the clone of its repository, ...): what each step printed.
    ``follow=true`` streams it (server-sent events of kind ``log``) as steps finish."""
    workspace = await plane.workspaces.get(name, who=me, purpose="logs")
    if follow:
        return _sse(only_logs(_events_of(workspace, plane, me, again, last_event_id)))
    events = await plane.store.events(workspace.id, after=0)
    return JSONResponse(LogsPublic.of(events).model_dump(mode="json"))


def _events_of(
    workspace: Workspace, plane: ControlPlane, me: Identity, again: Recheck, after: int
) -> AsyncIterator[str]:
    """``workspace``'s events after ``after``, for as long as ``me``'s credential stands."""
    return event_stream(
        plane.store,
        workspace.id,
        after,
        plane.event_poll,
        workspace.name,
        still_valid=unchanged(me, again),
    )


def _sse(stream: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def only_logs(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """The stream's ``log`` events, and what keeps it alive (retry, keep-alive comments)."""
    async for chunk in stream:
        if not chunk.startswith("id:") or "\nevent: log\n" in chunk:
            yield chunk


def unchanged(me: Identity, again: Recheck) -> Callable[[], Awaitable[bool]]:
    """True while the request's credential still stands for exactly ``me``."""

    async def check() -> bool:
        return await again() == me

    return check


events_router = APIRouter(tags=["workspaces"], responses=declared(401, 422))


@events_router.get("/events", response_class=StreamingResponse, responses=EVENT_STREAM)
async def all_events(
    plane: Plane,
    me: Me,
    again: Again,
    last_event_id: Annotated[int, Header(ge=0)] = 0,
) -> StreamingResponse:
    """Server-sent events of every workspace the user may see: the web app's live feed. It
    ends once the credential that opened it is revoked or its user's powers change (an admin
    demoted must stop seeing others' workspaces); the browser reconnects and is asked again."""
    names: dict[str, str | None] = {}

    async def visible(workspace_id: str) -> str | None:
        if workspace_id not in names:
            names[workspace_id] = await plane.workspaces.name_if_visible(workspace_id, who=me)
        return names[workspace_id]

    return StreamingResponse(
        all_events_stream(
            plane.store, visible, last_event_id, plane.event_poll, unchanged(me, again)
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
