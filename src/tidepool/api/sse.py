"""Server-sent events for one workspace: every status change and start-up phase.

Each event's ``id`` is its sequence number, so a client that reconnects with
``Last-Event-ID`` resumes where it stopped. The stream ends after ``deleted``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from tidepool.ports import Event, WorkspaceStore

HEARTBEAT_SECONDS = 15.0


def format_event(event: Event, name: str = "") -> str:
    data = json.dumps(
        {
            "kind": event.kind,
            "value": event.value,
            "detail": event.detail,
            "at": event.at.isoformat(),
            "workspace_id": event.workspace_id,
            "name": name,
        }
    )
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n"


async def event_stream(
    store: WorkspaceStore, workspace_id: str, after: int, poll: float
) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    idle = 0.0
    while True:
        events = await store.events(workspace_id, after=after)
        for event in events:
            yield format_event(event)
            after = event.seq
            if event.kind == "status" and event.value == "deleted":
                return
        if events:
            idle = 0.0
        else:
            idle += poll
            if idle >= HEARTBEAT_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(poll)


async def all_events_stream(
    store: WorkspaceStore,
    visible: Callable[[str], Awaitable[str | None]],
    after: int,
    poll: float,
) -> AsyncIterator[str]:
    """Every workspace's events that ``visible`` lets through (it returns the workspace's
    name, or None to hide it): the web app's one live feed for its whole list."""
    if after == 0:
        after = await store.latest_event_seq()  # live from now: the list was just loaded
    yield "retry: 1000\n\n"
    idle = 0.0
    while True:
        events = await store.events(None, after=after)
        for event in events:
            after = event.seq
            name = await visible(event.workspace_id)
            if name is not None:
                yield format_event(event, name)
        if events:
            idle = 0.0
        else:
            idle += poll
            if idle >= HEARTBEAT_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(poll)
