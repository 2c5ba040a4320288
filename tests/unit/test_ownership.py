"""Nothing is deleted that is not provably this installation's and unwanted.

``judge`` over every case, then whole planes (``bootstrap.build`` with in-memory fakes) that
share one runtime the way two installations, or one installation switched to an empty
database, share one Incus: the second never deletes the first's instances, and reports them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tidepool import bootstrap
from tidepool.adapters.fakes.front_door import FakeFrontDoor
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.bootstrap import Tidepool
from tidepool.domain.identity import HOST, Identity
from tidepool.domain.names import InstanceName, WorkspaceName
from tidepool.domain.ownership import InstanceOwner, Verdict, judge, may_delete
from tidepool.domain.workspace import Action, Desired, Status, Workspace
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError
from tidepool.host.unclaimed_file import UnclaimedFile
from tidepool.installation import installation_id
from tidepool.ports import InstanceSpec
from tidepool.services.resync import resync
from tidepool.services.workspaces import instance_name
from tidepool.settings import Settings
from tidepool.store.memory import memory_store

IMAGE = "tidepool-workspace"
OURS = "a" * 32
THEIRS = "b" * 32
ANN = Identity("ann", admin=False)


def row(status: Status, workspace_id: str = "c" * 32) -> Workspace:
    return Workspace(
        name=WorkspaceName("keepme"),
        owner="ann",
        image=IMAGE,
        id=workspace_id,
        status=status,
        desired=Desired.DELETED if status is Status.DELETED else Desired.RUNNING,
    )


@pytest.mark.parametrize(
    ("owner", "status", "verdict"),
    [
        (InstanceOwner(OURS, "c" * 32), Status.DELETED, Verdict.UNWANTED),
        (InstanceOwner(OURS, "c" * 32), Status.RUNNING, Verdict.WANTED),
        (InstanceOwner(OURS, "c" * 32), None, Verdict.UNKNOWN),
        (InstanceOwner(OURS, "d" * 32), Status.DELETED, Verdict.UNKNOWN),
        (InstanceOwner(THEIRS, "c" * 32), Status.DELETED, Verdict.FOREIGN),
        (InstanceOwner(THEIRS, "c" * 32), Status.RUNNING, Verdict.FOREIGN),
        (None, Status.RUNNING, Verdict.WANTED),
        (None, Status.DELETED, Verdict.UNKNOWN),
        (None, None, Verdict.UNKNOWN),
    ],
)
def test_only_this_installations_instance_of_a_deleted_row_is_unwanted(
    owner: InstanceOwner | None, status: Status | None, verdict: Verdict
) -> None:
    workspace = row(status) if status is not None else None
    judgement = judge(owner, workspace, OURS)
    assert judgement.verdict is verdict
    assert bool(judgement.reason) is (verdict is not Verdict.WANTED)


def test_the_reconciler_deletes_only_its_own_rows_instance() -> None:
    deleted = row(Status.DELETING)
    assert may_delete(InstanceOwner(OURS, deleted.id), deleted, OURS)
    assert may_delete(None, deleted, OURS), "made before owners: the row's id names it"
    assert not may_delete(InstanceOwner(THEIRS, deleted.id), deleted, OURS)
    assert not may_delete(InstanceOwner(OURS, "d" * 32), deleted, OURS)


def test_an_installation_keeps_its_id_and_two_data_directories_differ(tmp_path: Path) -> None:
    first = installation_id(tmp_path / "one")
    assert installation_id(tmp_path / "one") == first
    assert installation_id(tmp_path / "two") != first
    (tmp_path / "one" / "installation-id").write_text("not an id\n")
    with pytest.raises(InvalidInputError, match="damaged"):
        installation_id(tmp_path / "one")


@pytest.fixture
async def planes(tmp_path: Path) -> AsyncIterator[tuple[Tidepool, Tidepool]]:
    """Two control planes on one runtime: each its own data directory and (empty) database,
    as a second installation on the same Incus, or ``serve`` switched to a new database."""
    runtime = InMemoryRuntime(images=[IMAGE])
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        )
        built = []
        for name in ("first", "second"):
            settings = Settings(data_dir=tmp_path / name, image_alias=IMAGE)
            app = await stack.enter_async_context(
                bootstrap.build(
                    settings,
                    runtime=runtime,
                    routes=InMemoryRouteTable(),
                    store=memory_store(),
                    door=FakeFrontDoor(),
                    http=http,
                )
            )
            built.append(app)
        yield built[0], built[1]


def switched_database(app: Tidepool) -> AbstractAsyncContextManager[Tidepool]:
    """``app``'s installation (its data directory, runtime and http) on a new, empty
    database: what ``TIDEPOOL_DATABASE_URL`` naming a new database does."""
    return bootstrap.build(
        app.settings,
        runtime=app.runtime,
        routes=InMemoryRouteTable(),
        store=memory_store(),
        door=FakeFrontDoor(),
        http=app.http,
    )


async def drain(app: Tidepool) -> None:
    worker = app.worker()
    for _ in range(50):
        if not await worker.run_once():
            return


async def test_a_second_plane_with_an_empty_database_deletes_nothing_and_reports_it(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, second = planes
    for name in ("keepme", "other"):
        await first.workspaces.create(name, who=ANN)
    await drain(first)
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    made = set(runtime.instances)
    assert len(made) == 2

    worker = second.worker()
    await worker.resync_safely()  # what `serve` does at start
    assert set(runtime.instances) == made, "the second plane deleted the first's instances"
    found = UnclaimedFile.in_data_dir(second.settings.data_dir).read()
    assert {u.instance for u in found} == made
    assert {u.verdict for u in found} == {Verdict.FOREIGN}
    assert all(u.owner and u.owner.installation == first.installation for u in found)

    report = await resync(first.store, first.runtime, first.routes, installation=first.installation)
    assert not report.unclaimed and not report.vanished, "the first plane's are still its own"
    for name in ("keepme", "other"):
        assert (await first.workspaces.get(name, who=HOST)).status is Status.RUNNING


async def test_a_switched_database_finds_this_installations_instances_and_keeps_them(
    tmp_path: Path, planes: tuple[Tidepool, Tidepool]
) -> None:
    """The same data directory (the same installation id), a new empty database."""
    first, _ = planes
    await first.workspaces.create("keepme", who=ANN)
    await drain(first)
    async with switched_database(first) as switched:
        assert switched.installation == first.installation
        report = await resync(
            switched.store, switched.runtime, switched.routes, installation=switched.installation
        )
    assert report.orphan_instances_removed == []
    [unclaimed] = report.unclaimed
    assert unclaimed.verdict is Verdict.UNKNOWN and "does not know" in unclaimed.reason


async def test_a_deleted_workspaces_instance_left_behind_is_removed_and_only_that(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, _ = planes
    gone = await first.workspaces.create("gone", who=ANN)
    await drain(first)
    await first.workspaces.request("gone", Action.DELETE, who=ANN)
    await drain(first)
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    # The instance comes back as a crash or a restored runtime backup could leave it.
    await runtime.create(
        InstanceSpec(instance_name(gone), IMAGE, owner=InstanceOwner(first.installation, gone.id))
    )
    await runtime.create(InstanceSpec("ws-00000000000000ff", IMAGE))  # no owner, no row
    await runtime.create(InstanceSpec("test", IMAGE))  # named as an older Tidepool named them
    report = await resync(first.store, first.runtime, first.routes, installation=first.installation)
    assert report.orphan_instances_removed == [instance_name(gone)]
    assert set(runtime.instances) == {"ws-00000000000000ff", "test"}
    assert {u.instance for u in report.unclaimed} == {"ws-00000000000000ff", "test"}


async def test_an_instance_from_before_owners_is_stamped_as_its_live_workspaces(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, second = planes
    kept = await first.workspaces.create("kept", who=ANN)
    await drain(first)
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    runtime.instances[instance_name(kept)].owner = None  # as every instance made before
    report = await resync(first.store, first.runtime, first.routes, installation=first.installation)
    assert report.claimed == [instance_name(kept)] and not report.unclaimed
    assert await runtime.owner(instance_name(kept)) == InstanceOwner(first.installation, kept.id)
    report = await resync(
        second.store, second.runtime, second.routes, installation=second.installation
    )
    assert [u.verdict for u in report.unclaimed] == [Verdict.FOREIGN]


async def test_deleting_a_workspace_never_deletes_another_installations_instance(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    """A row whose instance name meets an instance that records another owner (a copied
    database on a second installation): the row is deleted, the instance is left."""
    first, _ = planes
    mine = await first.workspaces.create("mine", who=ANN)
    await drain(first)
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    runtime.instances[instance_name(mine)].owner = InstanceOwner(THEIRS, mine.id)
    await first.workspaces.request("mine", Action.DELETE, who=ANN)
    await drain(first)
    assert (await first.store.get_by_id(mine.id)).status is Status.DELETED
    assert instance_name(mine) in runtime.instances


async def test_a_create_never_replaces_an_instance_it_cannot_prove_its_own(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    """A half-made create is made again, but only over an instance that records this row."""
    first, _ = planes
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    created = await first.workspaces.create("half", who=ANN)
    await runtime.create(
        InstanceSpec(instance_name(created), IMAGE, owner=InstanceOwner(THEIRS, created.id))
    )
    await first.store.save(created.move_to(Status.CREATING))  # its create never returned
    await drain(first)
    workspace = await first.store.get_by_id(created.id)
    assert workspace.status is Status.FAILED and "not this workspace's" in workspace.error
    assert await runtime.owner(instance_name(created)) == InstanceOwner(THEIRS, created.id)


async def test_a_switched_database_adopts_its_workspace_back_as_it_was(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, _ = planes
    made = await first.workspaces.create("keepme", who=ANN)
    await drain(first)
    instance = instance_name(made)
    async with switched_database(first) as switched:
        adopted = await switched.adoption.adopt(instance, WorkspaceName("keepme"), "ann")
        assert adopted.running and adopted.workspace.id == made.id, "its id, as it was"
        running = await switched.by_hand.run(WorkspaceName("keepme"))
        assert running.status is Status.RUNNING and instance_name(running) == instance
        assert "keepme" in await switched.routes.entries()
        report = await resync(
            switched.store, switched.runtime, switched.routes, installation=switched.installation
        )
        assert not report.unclaimed and not report.changed, report


async def test_an_older_tidepools_instance_named_after_its_workspace_is_adopted(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    """The upgrade path (``adopt --earlier`` in ``scripts/up``): ``test``, made by ``vm
    start`` before workspaces had rows, becomes workspace ``test`` with its instance."""
    first, _ = planes
    runtime = first.runtime
    assert isinstance(runtime, InMemoryRuntime)
    for legacy in ("test", "ws-00000000000000ff"):  # no owner recorded
        await runtime.create(InstanceSpec(InstanceName(legacy), IMAGE))
        await runtime.start(InstanceName(legacy))
    [adopted] = await first.adoption.earlier("local")
    assert adopted.running and adopted.workspace.name == "test"
    workspace = await first.by_hand.run(WorkspaceName("test"))
    assert workspace.status is Status.RUNNING and instance_name(workspace) == "test"
    assert await runtime.owner(InstanceName("test")) == InstanceOwner(
        first.installation, adopted.workspace.id
    )
    assert await first.adoption.earlier("local") == [], "once"
    assert sorted(runtime.instances) == ["test", "ws-00000000000000ff"], "no instance made"


async def test_adoption_refuses_what_it_must_and_then_changes_nothing(
    planes: tuple[Tidepool, Tidepool],
) -> None:
    first, second = planes
    made = await first.workspaces.create("theirs", who=ANN)
    await drain(first)
    instance = instance_name(made)
    with pytest.raises(ConflictError, match="another Tidepool installation"):
        await second.adoption.adopt(instance, WorkspaceName("theirs"), "ann")
    with pytest.raises(ConflictError, match="already"):
        await first.adoption.adopt(instance, WorkspaceName("again"), "ann")
    with pytest.raises(NotFoundError):
        await first.adoption.adopt(InstanceName("nothing"), WorkspaceName("nothing"), "ann")
    assert (await second.store.list()).total == 0
    assert await first.runtime.owner(instance) == InstanceOwner(first.installation, made.id)
    taken = await second.adoption.adopt(instance, WorkspaceName("taken"), "ann", take_over=True)
    assert await first.runtime.owner(instance) == InstanceOwner(
        second.installation, taken.workspace.id
    )
