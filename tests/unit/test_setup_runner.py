"""Behind the IDE: a workspace is running before its setup ends, and a setup a dead ``serve``
cut short is found and run again."""

from __future__ import annotations

import asyncio

from tidepool.domain.identity import Identity
from tidepool.domain.repositories import Repository
from tidepool.domain.workspace import Status, Workspace
from tidepool.services.setup import FINISHED, STARTED, Setup
from tidepool.services.setup_runner import SetupRunner
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)


class HeldSetup(Setup):
    """A setup that runs until the test lets it end."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.ran: list[str] = []

    def needed(self, workspace: Workspace) -> bool:
        return workspace.repository is not None

    async def run(self, workspace: Workspace, instance: str) -> None:
        self.ran.append(workspace.name)
        await self.release.wait()


def running(name: str, repository: Repository | None) -> Workspace:
    workspace = Workspace(name=name, owner="ann", image="img", repository=repository)
    return workspace.move_to(Status.CREATING).move_to(Status.STARTING).move_to(Status.RUNNING)


async def test_behind_the_ide_the_setup_does_not_hold_the_caller_and_ends_with_serve() -> None:
    store, _ = memory_store()
    setup = HeldSetup()
    runner = SetupRunner(setup, store, behind=True)
    stop = asyncio.Event()
    keeping = asyncio.create_task(runner.keep(stop))
    workspace = running("w", Repository("https://git.example.test/a.git"))
    await asyncio.wait_for(runner.after_running(workspace), 1)  # returns while it runs
    await asyncio.sleep(0)
    assert setup.ran == ["w"]
    await runner.after_running(running("plain", None))
    assert setup.ran == ["w"], "nothing to set up: no task"
    stop.set()
    await asyncio.wait_for(keeping, 1)  # the held setup was ended with serve


async def test_a_setup_that_opened_and_never_closed_is_run_again_at_the_next_start() -> None:
    store, _ = memory_store()
    repo = Repository("https://git.example.test/a.git")
    cut = await store.add(running("cut", repo))
    done = await store.add(running("done", repo))
    await store.add(running("plain", None))
    await store.add_event(cut.id, "phase", STARTED, "")
    await store.add_event(done.id, "phase", STARTED, "")
    await store.add_event(done.id, "phase", FINISHED, "")
    await store.add_event(cut.id, "log", "clone", "Cloning into /home/dev/a")
    setup = HeldSetup()
    runner = SetupRunner(setup, store, behind=True)
    assert [w.name for w in await runner.cut_short()] == ["cut"]
    stop = asyncio.Event()
    keeping = asyncio.create_task(runner.keep(stop))
    while not setup.ran:
        await asyncio.sleep(0.01)
    assert setup.ran == ["cut"]
    stop.set()
    await keeping


async def test_in_line_the_caller_waits_for_the_setup() -> None:
    store, _ = memory_store()
    setup = HeldSetup()
    runner = SetupRunner(setup, store)
    waiting = asyncio.create_task(
        runner.after_running(running("w", Repository("https://x.test/a")))
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    setup.release.set()
    await asyncio.wait_for(waiting, 1)
