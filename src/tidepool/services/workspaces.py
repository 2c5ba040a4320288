"""The user's side of the control plane: create, list, show, start, stop, delete.

A request never touches an instance or a route. It writes what the user wants (``desired``)
and enqueues a reconcile job in the same transaction; the worker does the rest. So a request
answers in milliseconds, and a crash between request and work loses nothing.
"""

from __future__ import annotations

from dataclasses import replace

from tidepool.domain.names import validate_workspace_name
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.errors import ConflictError
from tidepool.ports import Page, WorkspaceStore

#: How often a request re-reads and retries when a concurrent write got there first.
CONFLICT_RETRIES = 5


class WorkspaceService:
    def __init__(
        self, store: WorkspaceStore, *, default_image: str, instance_prefix: str = "ws"
    ) -> None:
        self._store = store
        self._default_image = default_image
        self._instance_prefix = instance_prefix

    async def create(self, name: str, *, owner: str, image: str | None = None) -> Workspace:
        """A new workspace, ``pending``, with its first reconcile job enqueued."""
        name = validate_workspace_name(name)
        workspace = Workspace(name=name, owner=owner, image=image or self._default_image)
        instance = f"{self._instance_prefix}-{workspace.id[:16]}"
        workspace = replace(workspace, runtime_state={"instance": instance})
        return await self._store.add(workspace)

    async def get(self, name: str) -> Workspace:
        return await self._store.get(validate_workspace_name(name))

    async def list(
        self,
        *,
        status: Status | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        return await self._store.list(status=status, owner=owner, limit=limit, offset=offset)

    async def request(self, name: str, action: Action) -> Workspace:
        """Record that the user wants ``action``; serialized against concurrent writes.

        Two concurrent actions on one workspace both land, one after the other: the loser of
        the optimistic-concurrency race re-reads and applies its action to the new state.
        """
        name = validate_workspace_name(name)
        for _ in range(CONFLICT_RETRIES):
            current = await self._store.get(name)
            wanted = current.request(action)
            if wanted is current:
                return current
            try:
                return await self._store.save(
                    wanted, event=("request", action.value, ""), enqueue=True
                )
            except ConflictError:
                continue
        raise ConflictError(f"Workspace {name!r} is changing too fast; try again.")


def instance_name(workspace: Workspace) -> str:
    """The runtime instance behind a workspace: derived from its id, never from its name.

    A name can be reused once its workspace is deleted; an id cannot, so the old and the new
    workspace never fight over one instance. The name is fixed at creation and kept in the
    adapter-private state.
    """
    return str(workspace.runtime_state.get("instance") or f"ws-{workspace.id[:16]}")


def is_control_plane_instance(name: str, prefix: str = "ws") -> bool:
    """True for instances this control plane makes (``PREFIX-`` and 16 hex digits)."""
    head, _, tail = name.partition("-")
    return head == prefix and len(tail) == 16 and all(c in "0123456789abcdef" for c in tail)
