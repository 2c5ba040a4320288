"""Where a workspace's setup runs: behind its open IDE in ``serve``, in line elsewhere.

In ``serve`` (``behind=True``) a setup runs as a task of its own once the workspace is
running, so a slow or silent repository host never holds the workspace in ``starting`` nor
a worker's job. Such a task dies with ``serve``; ``keep`` (run by ``serve``) finds, at its
start, every running workspace whose setup opened and never closed, and runs it again: every
step is idempotent (``setup_scripts``). A CLI that reconciles by hand, with no ``serve`` to
keep a task, runs the setup in line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tidepool.domain.workspace import Status, Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import WorkspaceStore
from tidepool.services.setup import FINISHED, STARTED, Setup
from tidepool.services.workspaces import instance_name

log = logging.getLogger(__name__)

#: Events read at once while looking for setups cut short.
_PAGE = 1000


class SetupRunner:
    def __init__(self, setup: Setup, store: WorkspaceStore, *, behind: bool = False) -> None:
        self._setup = setup
        self._store = store
        self._behind = behind
        self._running: dict[str, asyncio.Task[None]] = {}

    async def prepare(self, workspace: Workspace) -> None:
        """What must be there before the workspace is routed (the folder the IDE opens on)."""
        await self._setup.prepare(workspace, instance_name(workspace))

    async def after_running(self, workspace: Workspace) -> None:
        """Run the setup: as a task of its own when behind, else now."""
        if not self._setup.needed(workspace):
            return
        if self._behind:
            self.begin(workspace)
        else:
            await self._setup.run(workspace, instance_name(workspace))

    def begin(self, workspace: Workspace) -> None:
        """Start ``workspace``'s setup as a task, in place of one still running for it (an
        earlier start's, which its instance's stop cut short anyway)."""
        earlier = self._running.pop(workspace.id, None)
        if earlier is not None:
            earlier.cancel()
        task = asyncio.create_task(self._run(workspace), name=f"setup-{workspace.name}")
        self._running[workspace.id] = task
        task.add_done_callback(lambda done: self._forget(workspace.id, done))

    def _forget(self, workspace_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(workspace_id) is task:
            del self._running[workspace_id]

    async def _run(self, workspace: Workspace) -> None:
        try:
            await self._setup.run(workspace, instance_name(workspace))
        except asyncio.CancelledError:
            raise
        except Exception:  # a store that failed: the next start runs it again
            log.exception("setup of workspace %s stopped", workspace.name)

    async def keep(self, stop: asyncio.Event) -> None:
        """Run again the setups a dead ``serve`` left unfinished; at ``stop``, end the
        running ones (the next ``serve`` runs them again)."""
        try:
            try:
                for workspace in await self.cut_short():
                    log.info("setup of %s was cut short: running it again", workspace.name)
                    self.begin(workspace)
            except TidepoolError as error:  # the store away at start: the next start tries
                log.warning("could not look for setups cut short: %s", error)
            await stop.wait()
        finally:
            for task in list(self._running.values()):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def cut_short(self) -> list[Workspace]:
        """The running workspaces whose setup opened and never closed."""
        found, offset = [], 0
        while True:
            page = await self._store.list(status=Status.RUNNING, limit=200, offset=offset)
            for workspace in page.items:
                if self._setup.needed(workspace) and await self._unfinished(workspace.id):
                    found.append(workspace)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return found

    async def _unfinished(self, workspace_id: str) -> bool:
        last, after = "", 0
        while True:
            events = await self._store.events(workspace_id, after=after, limit=_PAGE)
            for event in events:
                if event.kind == "phase" and event.value in (STARTED, FINISHED):
                    last = event.value
            if len(events) < _PAGE:
                return last == STARTED
            after = events[-1].seq
