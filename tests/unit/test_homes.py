"""Home volumes through the reconciler and the home use cases, on the in-memory fakes: a
create makes and attaches one, a delete keeps it with a snapshot, undelete and fork copy it,
a restore puts a snapshot back, a rebuild keeps it under a new instance, and a crash at a
step leaves a row that the next pass finishes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.homes_plane import ANN, BOB, INSTALLATION, NEWER, Plane
from tidepool.domain.activity import StopReason
from tidepool.domain.home import DELETE_SNAPSHOT, REPLACES, RESTORE, home_of
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.quotas import Quota, QuotaExceededError
from tidepool.domain.snapshots import Retention
from tidepool.domain.templates import Size
from tidepool.domain.workspace import Action, Status, Workspace
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError
from tidepool.services.workspaces import instance_name


async def test_a_create_makes_the_home_volume_owned_by_the_workspace_and_attaches_it() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    home = home_of(workspace.runtime_state)
    volume = await plane.volumes.get(home)
    assert volume.owner == InstanceOwner(INSTALLATION, workspace.id)
    assert volume.used_by == (instance_name(workspace),)
    assert workspace.status is Status.RUNNING


async def test_a_delete_keeps_home_with_a_snapshot_and_undelete_brings_the_files_back() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    plane.files(workspace)["notes.txt"] = b"mine\x00\xff"
    await plane.settle(await plane.workspaces.request("ann-ws", Action.DELETE, who=ANN))
    deleted = await plane.store.get_by_id(workspace.id)
    assert deleted.status is Status.DELETED
    assert workspace.runtime_state["instance"] not in plane.runtime.instances
    kept = await plane.volumes.snapshots(home_of(workspace.runtime_state))
    assert [s.name for s in kept] == [deleted.runtime_state[DELETE_SNAPSHOT]]

    with pytest.raises(NotFoundError):
        await plane.homes.undelete("ann-ws", who=BOB)  # not his to see
    back = await plane.settle(await plane.homes.undelete("ann-ws", who=ANN))
    assert (back.name, back.owner, back.status) == ("ann-ws", "ann", Status.RUNNING)
    assert back.id != workspace.id
    assert plane.files(back) == {"notes.txt": b"mine\x00\xff"}
    with pytest.raises(ConflictError):
        await plane.homes.undelete("ann-ws", who=ANN)  # the name is taken again


async def test_after_retention_a_deleted_workspace_cannot_be_undeleted() -> None:
    plane = Plane(Retention(keep=5, days=1))
    workspace = await plane.running("ann-ws")
    await plane.settle(await plane.workspaces.request("ann-ws", Action.DELETE, who=ANN))
    plane.time += timedelta(days=2)
    assert await plane.steps.prune(home_of(workspace.runtime_state))
    with pytest.raises(NotFoundError, match="no longer kept"):
        await plane.homes.undelete("ann-ws", who=ANN)


async def test_a_delete_cut_short_after_its_snapshot_takes_no_second_one() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    asked = await plane.workspaces.request("ann-ws", Action.DELETE, who=ANN)
    first = await plane.steps.before_delete(asked, instance_name(asked))  # then a crash
    plane.time += timedelta(seconds=5)
    await plane.settle(first)
    kept = await plane.volumes.snapshots(home_of(workspace.runtime_state))
    assert len(kept) == 1


async def test_restore_puts_a_snapshot_back_can_be_undone_and_runs_again() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    plane.files(workspace)["a.txt"] = b"before"
    await plane.homes.take_snapshot("ann-ws", "good", who=ANN)
    plane.files(workspace)["a.txt"] = b"broken"
    plane.files(workspace)["b.txt"] = b"new"
    with pytest.raises(NotFoundError):
        await plane.homes.restore("ann-ws", "missing", who=ANN)
    with pytest.raises(NotFoundError):
        await plane.homes.restore("ann-ws", "good", who=BOB)
    asked = await plane.homes.restore("ann-ws", "good", who=ANN)
    assert not asked.settled, "a restore asked for is work left to do"
    done = await plane.settle(asked)
    assert done.status is Status.RUNNING and RESTORE not in done.runtime_state
    assert plane.files(done) == {"a.txt": b"before"}
    names = [s.name for s in await plane.homes.snapshots("ann-ws", who=ANN)]
    assert names[0] == "good" and names[1].startswith("auto-restore-")
    assert plane.volumes.volumes[home_of(done.runtime_state)].snapshots[names[1]][1] == {
        "a.txt": b"broken",
        "b.txt": b"new",
    }


async def test_snapshot_names_are_checked_and_tidepools_own_prefix_is_refused() -> None:
    plane = Plane()
    await plane.running("ann-ws")
    for bad in ("auto-delete-1", "Has Space", "../x", ""):
        with pytest.raises(InvalidInputError):
            await plane.homes.take_snapshot("ann-ws", bad, who=ANN)
    await plane.homes.take_snapshot("ann-ws", "one", who=ANN)
    with pytest.raises(ConflictError):
        await plane.homes.take_snapshot("ann-ws", "one", who=ANN)


async def test_rebuild_makes_a_new_instance_from_the_templates_image_with_the_same_home() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    plane.files(workspace)["work.py"] = b"print(1)"
    old = instance_name(workspace)
    asked = await plane.homes.rebuild("ann-ws", who=ANN, template="newer")
    assert asked.runtime_state[REPLACES] == old
    done = await plane.settle(asked)
    new = instance_name(done)
    assert new != old and old not in plane.runtime.instances
    assert plane.runtime.instances[new].image == NEWER
    assert (done.template, done.image, done.status) == ("newer", NEWER, Status.RUNNING)
    assert done.size == Size(cpus=1, memory_mib=1024)
    assert (await plane.volumes.get(home_of(done.runtime_state))).used_by == (new,)
    assert plane.files(done) == {"work.py": b"print(1)"}


async def test_a_rebuild_cut_short_after_the_old_instance_went_converges() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    asked = await plane.homes.rebuild("ann-ws", who=ANN)
    await plane.runtime.delete(instance_name(workspace))  # the pass died right after this
    done = await plane.settle(asked)
    assert done.status is Status.RUNNING
    assert list(plane.runtime.instances) == [instance_name(done)]


async def test_a_stopped_workspace_rebuilt_stays_stopped() -> None:
    plane = Plane()
    await plane.running("ann-ws")
    stopped = await plane.settle(await plane.workspaces.request("ann-ws", Action.STOP, who=ANN))
    done = await plane.settle(await plane.homes.rebuild("ann-ws", who=ANN))
    assert done.status is Status.STOPPED and instance_name(done) != instance_name(stopped)


async def test_a_fork_copies_home_is_the_forkers_and_changes_nothing_in_the_source() -> None:
    plane = Plane()
    source = await plane.running("ann-ws")
    plane.files(source)["code.py"] = b"v1"
    with pytest.raises(NotFoundError):
        await plane.homes.fork("ann-ws", "bobs-copy", who=BOB)
    fork = await plane.settle(await plane.homes.fork("ann-ws", "ann-fork", who=ANN))
    assert (fork.owner, fork.template, fork.size) == ("ann", source.template, source.size)
    assert instance_name(fork) != instance_name(source)
    assert plane.files(fork) == {"code.py": b"v1"}
    plane.files(fork)["code.py"] = b"v2"
    assert plane.files(source) == {"code.py": b"v1"}


async def test_a_workspace_made_before_home_volumes_says_so() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    state = {k: v for k, v in workspace.runtime_state.items() if k != "home"}
    await plane.store.save(Workspace(**{**_fields(workspace), "runtime_state": state}))
    with pytest.raises(ConflictError, match="root filesystem"):
        await plane.homes.take_snapshot("ann-ws", "one", who=ANN)


def _fields(workspace: Workspace) -> dict[str, object]:
    return {name: getattr(workspace, name) for name in Workspace.__dataclass_fields__}


async def test_the_sweep_deletes_a_deleted_workspaces_home_only_after_retention() -> None:
    plane = Plane(Retention(keep=5, days=1))
    gone = await plane.running("ann-ws")
    live = await plane.running("ann-live")
    await plane.settle(await plane.workspaces.request("ann-ws", Action.DELETE, who=ANN))
    assert await plane.steps.sweep() == [], "kept for undelete"
    plane.time += timedelta(days=2)
    assert await plane.steps.sweep() == [home_of(gone.runtime_state)]
    assert home_of(live.runtime_state) in plane.volumes.volumes, "a live one's home stays"


async def test_the_sweep_leaves_a_home_whose_row_this_database_does_not_have() -> None:
    plane = Plane(Retention(keep=1, days=0.001))
    other = InstanceOwner(INSTALLATION, "f" * 32)  # a switched database's workspace
    await plane.volumes.create("ws-ffffffffffffffff-home", other)
    foreign = InstanceOwner("9" * 32, "a" * 32)  # another installation's
    await plane.volumes.create("ws-aaaaaaaaaaaaaaaa-home", foreign)
    plane.time += timedelta(days=30)
    assert await plane.steps.sweep() == []
    assert set(plane.volumes.volumes) == {"ws-ffffffffffffffff-home", "ws-aaaaaaaaaaaaaaaa-home"}


async def test_a_workspace_made_before_home_volumes_moves_home_at_its_next_start() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    old = {k: v for k, v in workspace.runtime_state.items() if k != "home"}
    await plane.store.save(Workspace(**{**_fields(workspace), "runtime_state": old}))
    await plane.settle(await plane.workspaces.request("ann-ws", Action.STOP, who=ANN))
    started = await plane.settle(await plane.workspaces.request("ann-ws", Action.START, who=ANN))
    home = home_of(started.runtime_state)
    assert home == f"{instance_name(started)}-home"
    assert (await plane.volumes.get(home)).used_by == (instance_name(started),)
    assert started.status is Status.RUNNING
    await plane.homes.take_snapshot("ann-ws", "now-possible", who=ANN)


async def test_a_fork_and_an_undelete_count_against_the_quota_as_any_new_workspace() -> None:
    plane = Plane(quota=Quota(workspaces=1))
    await plane.running("ann-ws")
    with pytest.raises(QuotaExceededError):
        await plane.homes.fork("ann-ws", "ann-fork", who=ANN)
    await plane.homes.take_snapshot("ann-ws", "snapshots-count-nowhere", who=ANN)
    await plane.settle(await plane.workspaces.request("ann-ws", Action.DELETE, who=ANN))
    assert (await plane.settle(await plane.homes.undelete("ann-ws", who=ANN))).status is (
        Status.RUNNING
    ), "a deleted workspace's kept home counts for nothing"


async def test_an_idle_stop_leaves_an_automatic_snapshot_and_a_users_stop_none() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    await plane.settle(await plane.workspaces.request("ann-ws", Action.STOP, who=ANN))
    await plane.settle(await plane.workspaces.request("ann-ws", Action.START, who=ANN))
    assert await plane.volumes.snapshots(home_of(workspace.runtime_state)) == []
    idle = await plane.workspaces.request("ann-ws", Action.STOP, who=ANN, reason=StopReason.IDLE)
    await plane.settle(idle)
    kept = await plane.volumes.snapshots(home_of(workspace.runtime_state))
    assert [s.name.startswith("auto-idle-") for s in kept] == [True]


async def test_a_stopped_workspace_restored_stays_stopped_with_the_snapshots_files() -> None:
    plane = Plane()
    workspace = await plane.running("ann-ws")
    plane.files(workspace)["a.txt"] = b"before"
    await plane.homes.take_snapshot("ann-ws", "good", who=ANN)
    await plane.settle(await plane.workspaces.request("ann-ws", Action.STOP, who=ANN))
    plane.files(workspace)["a.txt"] = b"after"
    done = await plane.settle(await plane.homes.restore("ann-ws", "good", who=ANN))
    assert done.status is Status.STOPPED and RESTORE not in done.runtime_state
    assert plane.files(done) == {"a.txt": b"before"}


async def test_a_templates_disk_size_holds_for_home_as_for_the_root() -> None:
    plane = Plane()
    sized = await plane.settle(
        await plane.workspaces.create("ann-ws", who=ANN, size=Size(disk_gib=5))
    )
    assert plane.volumes.volumes[home_of(sized.runtime_state)].size_gib == 5
    fork = await plane.settle(await plane.homes.fork("ann-ws", "ann-fork", who=ANN))
    assert plane.volumes.volumes[home_of(fork.runtime_state)].size_gib == 5
