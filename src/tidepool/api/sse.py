"""Server-sent events for one workspace: every status change and start-up phase.

Each event's ``id`` is its sequence number, so a client that reconnects with
``Last-Event-ID`` resumes where it stopped. The stream ends after ``deleted``.

A stream can stay open for days, long after the credential that opened it was signed out,
revoked or its user removed or demoted. So every ``RECHECK_SECONDS`` the stream asks
``still_valid`` (the request's credential checked again) and ends when the answer is no: the
browser's ``EventSource`` reconnects, and the new request is judged afresh (a 401, or the
narrower view of a demoted admin).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from tidepool.domain.doorbell import Doorbell
from tidepool.ports import Event, WorkspaceStore

#: The least time between two reads of one stream when the doorbell rings.
WAKE_INTERVAL = 0.02

HEARTBEAT_SECONDS = 15.0
#: How often an open stream checks its credential again: well inside the 30 s in which a
#: revocation must reach open connections, and a cheap check (a ``stat`` of two small files).
RECHECK_SECONDS = 5.0
StillValid = Callable[[], Awaitable[bool]]


async def _always() -> bool:
    return True


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


async def _follow(
    store: WorkspaceStore,
    workspace_id: str | None,
    after: int,
    poll: float,
    name_of: Callable[[str], Awaitable[str | None]],
    end_on_deleted: bool,
    still_valid: StillValid,
    recheck_every: float,
) -> AsyncIterator[str]:
    """Read the event log after ``after`` whenever the store's doorbell rings (this process's
    writes; on PostgreSQL every process's) and at least every ``poll`` seconds (the rest), and
    emit what ``name_of`` lets through, with a keep-alive comment when nothing happens for a
    while; end as soon as ``still_valid`` says no (asked every ``recheck_every`` seconds)."""
    yield "retry: 1000\n\n"
    checked = last_sent = time.monotonic()
    while True:
        if time.monotonic() - checked >= recheck_every:
            if not await still_valid():
                return
            checked = time.monotonic()
        ticket = store.doorbell.ticket()
        read_at = time.monotonic()
        events = await store.events(workspace_id, after=after)
        for event in events:
            after = event.seq
            name = await name_of(event.workspace_id)
            if name is not None:
                yield format_event(event, name)
            if end_on_deleted and event.kind == "status" and event.value == "deleted":
                return
        if events:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await Doorbell.wait(ticket, poll)
        # A burst of writes (twenty creates) wakes every stream at each: read at most this often.
        await asyncio.sleep(max(0.0, read_at + WAKE_INTERVAL - time.monotonic()))


def event_stream(
    store: WorkspaceStore,
    workspace_id: str,
    after: int,
    poll: float,
    name: str = "",
    still_valid: StillValid = _always,
    recheck_every: float = RECHECK_SECONDS,
) -> AsyncIterator[str]:
    """One workspace's events, from ``after``; the stream ends after ``deleted``, or when
    ``still_valid`` says no."""

    async def named(_: str) -> str:
        return name

    return _follow(store, workspace_id, after, poll, named, True, still_valid, recheck_every)


async def all_events_stream(
    store: WorkspaceStore,
    visible: Callable[[str], Awaitable[str | None]],
    after: int,
    poll: float,
    still_valid: StillValid = _always,
    recheck_every: float = RECHECK_SECONDS,
) -> AsyncIterator[str]:
    """Every workspace's events that ``visible`` lets through (it returns the workspace's
    name, or None to hide it): the web app's one live feed for its whole list. It ends when
    ``still_valid`` says no."""
    if after == 0:
        after = await store.latest_event_seq()  # live from now: the list was just loaded
    async for chunk in _follow(
        store, None, after, poll, visible, False, still_valid, recheck_every
    ):
        yield chunk
