"""A create that takes a warm pool instance instead of making one, safe against a crash.

The hand-over is two writes in two places, in this order:

1. the workspace's row names the pool instance (``runtime_state``: ``instance``, ``pooled``
   and its own instance name, ``own``), step ``pool_chosen``;
2. the instance records the workspace as its owner, in place of the pool's mark, as one
   compare-and-swap (``Runtime.take``), step ``pool_taken``.

Killed between the two, the instance is still the pool's: the next reconcile takes it (or,
if another create or the keeper had it meanwhile, forgets it and makes the workspace its own
instance), and a delete leaves it in the pool. Killed after, it is the workspace's, and the
create goes on from there. So an instance is the workspace's or the pool's (or deleted),
never both, never neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from tidepool.domain.home import HOME
from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.pool import pool_key_of
from tidepool.domain.workspace import Workspace
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.services.pool import PoolKeeper

log = logging.getLogger(__name__)

#: ``runtime_state`` keys of a workspace made from a pool instance.
POOLED = "pooled"
OWN = "own"
OWN_HOME = "own_home"
#: The event a take leaves (its detail: the instance).
HANDED_OVER = "from_pool"


class PooledCreate:
    def __init__(
        self,
        store: WorkspaceStore,
        runtime: Runtime,
        installation: str,
        pool: PoolKeeper | None,
        reached: Callable[[str], None],
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._installation = installation
        self._pool = pool
        self._reached = reached

    async def take(self, workspace: Workspace) -> Workspace | None:
        """The workspace on a pool instance it took, or None (no pool fits,
        none is ready, or each was taken by someone else first): make one cold."""
        if self._pool is None:
            return None
        mine = InstanceOwner(self._installation, workspace.id)
        while (candidate := self._pool.next_candidate(workspace)) is not None:
            name, pooled = candidate
            own = workspace.runtime_state.get("instance") or ""
            # A pool instance was made without a home volume: its home stays in its root
            # filesystem, and moves onto a volume at its next start.
            state = {**workspace.runtime_state, "instance": name, POOLED: True, OWN: own}
            state[OWN_HOME], state[HOME] = state.get(HOME, ""), ""
            workspace = await self._store.save(replace(workspace, runtime_state=state))
            self._reached("pool_chosen")
            if await self._taken(name, pooled, mine):
                self._reached("pool_taken")
                await self._store.add_event(workspace.id, "phase", HANDED_OVER, name)
                return workspace
            log.info("pool instance %s was taken first by someone else", name)
            workspace = await self.forget(workspace)
        log.info("no warm pool instance for %s: made cold", workspace.name)
        return None

    async def resume(self, workspace: Workspace) -> Workspace | None:
        """Finish a hand-over the row says was begun: the instance is the workspace's
        already, or still the pool's and taken now. None if it is neither (another create
        or the keeper had it, or it is gone): ``forget`` it and make one cold."""
        name = InstanceName(str(workspace.runtime_state["instance"]))
        mine = InstanceOwner(self._installation, workspace.id)
        try:
            owner = await self._runtime.owner(name)
        except NotFoundError:
            return None
        if owner == mine:
            return workspace
        if owner is None or pool_key_of(owner, self._installation) is None:
            return None
        if not await self._taken(name, owner, mine):
            return None
        await self._store.add_event(workspace.id, "phase", HANDED_OVER, name)
        return workspace

    async def forget(self, workspace: Workspace) -> Workspace:
        """The row back on its own instance's name, the pool instance not its to use."""
        state = dict(workspace.runtime_state)
        own = state.pop(OWN, "")
        state.pop(POOLED, None)
        state["instance"] = own
        state[HOME] = state.pop(OWN_HOME, "")
        return await self._store.save(replace(workspace, runtime_state=state))

    async def _taken(self, name: InstanceName, pooled: InstanceOwner, mine: InstanceOwner) -> bool:
        try:
            return await self._runtime.take(name, pooled, mine)
        except NotFoundError:
            return False
