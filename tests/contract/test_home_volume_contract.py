"""One contract for every ``HomeVolumes``: the in-memory fake and Incus custom volumes on
Tidepool's storage pool (a real incusd; the instances it attaches to are empty containers,
``source: none``, so no image is needed).

Issue 29 groundwork: what the home volume services will stand on, kept honest before they
exist. Mounting into a *running* instance (hot-plug, which a migration's copy needs) takes a
booted image, so ``tests/integration/test_home_migration_incus.py`` shows it on Incus.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

import pytest

from tidepool.adapters.fakes.volumes import InMemoryHomeVolumes
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.volumes import IncusHomeVolumes
from tidepool.domain.home_migration import COPY_PATH
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError, TidepoolError
from tidepool.ports.volumes import HOME_PATH, HomeVolumes
from tidepool.settings import get_settings

OWNER = InstanceOwner("c" * 32, "contract-workspace")


@dataclass
class Subject:
    volumes: HomeVolumes
    make_instance: Callable[[str], Awaitable[None]]
    drop_instance: Callable[[str], Awaitable[None]]
    #: The instance's device names, where the runtime has them (Incus): attaching home
    #: must add a device, never replace the others.
    devices: Callable[[str], Awaitable[set[str]]] | None = None
    made: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)

    def name(self) -> str:
        name = f"tpc-home-{secrets.token_hex(4)}"
        self.made.append(name)
        return name

    async def instance(self) -> str:
        name = f"tpc-vol-{secrets.token_hex(4)}"
        self.instances.append(name)
        await self.make_instance(name)
        return name


def in_memory() -> tuple[Subject, Callable[[], Awaitable[None]]]:
    instances: set[str] = set()

    async def make(name: str) -> None:
        instances.add(name)

    async def drop(name: str) -> None:
        instances.discard(name)

    async def nothing() -> None:
        return None

    return Subject(InMemoryHomeVolumes(lambda: instances), make, drop), nothing


def on_incus() -> tuple[Subject, Callable[[], Awaitable[None]]]:
    client = IncusClient(unix_socket_client(get_settings().incus_socket))

    async def make(name: str) -> None:
        root = {"type": "disk", "path": "/", "pool": "tidepool"}
        body = {
            "name": name,
            "type": "container",
            "source": {"type": "none"},
            "devices": {"root": root},
        }
        await client.run("POST", "/1.0/instances", json=body)

    async def drop(name: str) -> None:
        await client.run("DELETE", f"/1.0/instances/{name}")

    async def devices(name: str) -> set[str]:
        return set((await client.sync("GET", f"/1.0/instances/{name}"))["devices"])

    return Subject(IncusHomeVolumes(client), make, drop, devices), client.aclose


@pytest.fixture(params=["in-memory", "incus"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "incus":
        request.applymarker(pytest.mark.incus)
    made, close = in_memory() if request.param == "in-memory" else on_incus()
    try:
        yield made
    finally:
        for instance in made.instances:
            with suppress(TidepoolError):
                await made.drop_instance(instance)
        for name in made.made:
            with suppress(TidepoolError):
                await made.volumes.delete(name)
        await close()


async def test_a_volume_is_made_once_with_its_owner_and_listed(subject: Subject) -> None:
    name = subject.name()
    assert await subject.volumes.create(name, OWNER) is True
    assert await subject.volumes.create(name, InstanceOwner("d" * 32, "other")) is False
    volume = await subject.volumes.get(name)
    assert (volume.name, volume.owner, volume.used_by) == (name, OWNER, ())
    assert name in [v.name for v in await subject.volumes.list()]
    with pytest.raises(NotFoundError):
        await subject.volumes.get(subject.name())
    await subject.volumes.snapshot(name, "auto-delete-20261207T090000Z")
    listed = [v.name for v in await subject.volumes.list() if v.name.startswith(name)]
    assert listed == [name], "a snapshot is not a volume of its own"


async def test_snapshots_are_taken_listed_restored_and_deleted(subject: Subject) -> None:
    name = subject.name()
    await subject.volumes.create(name, OWNER)
    await subject.volumes.snapshot(name, "first")
    await subject.volumes.snapshot(name, "second")
    with pytest.raises(ConflictError):
        await subject.volumes.snapshot(name, "first")
    assert [s.name for s in await subject.volumes.snapshots(name)] == ["first", "second"]
    await subject.volumes.restore(name, "first")
    with pytest.raises(NotFoundError):
        await subject.volumes.restore(name, "missing")
    await subject.volumes.delete_snapshot(name, "first")
    with pytest.raises(NotFoundError):
        await subject.volumes.delete_snapshot(name, "first")
    assert [s.name for s in await subject.volumes.snapshots(name)] == ["second"]


async def test_a_copy_has_its_own_owner_and_none_of_the_sources_snapshots(
    subject: Subject,
) -> None:
    source, copy = subject.name(), subject.name()
    await subject.volumes.create(source, OWNER)
    await subject.volumes.snapshot(source, "kept-there")
    fork_owner = InstanceOwner(OWNER.installation, "the-fork")
    assert await subject.volumes.create(copy, fork_owner, copy_of=source) is True
    assert (await subject.volumes.get(copy)).owner == fork_owner
    assert await subject.volumes.snapshots(copy) == []
    with pytest.raises(NotFoundError):
        await subject.volumes.create(subject.name(), OWNER, copy_of="tpc-home-missing")


async def test_a_copy_of_a_snapshot_is_made_from_it_and_a_missing_one_is_not_found(
    subject: Subject,
) -> None:
    source, copy = subject.name(), subject.name()
    await subject.volumes.create(source, OWNER)
    await subject.volumes.snapshot(source, "auto-delete-20261207T090000Z")
    undeleted = InstanceOwner(OWNER.installation, "undeleted")
    made = await subject.volumes.create(
        copy, undeleted, copy_of=source, snapshot="auto-delete-20261207T090000Z"
    )
    assert made is True
    assert (await subject.volumes.get(copy)).owner == undeleted
    with pytest.raises(NotFoundError):
        await subject.volumes.create(subject.name(), OWNER, copy_of=source, snapshot="missing")


async def test_an_attached_volume_is_used_and_outlives_its_instance(subject: Subject) -> None:
    name = subject.name()
    await subject.volumes.create(name, OWNER)
    with pytest.raises(NotFoundError):
        await subject.volumes.attach(name, "tpc-vol-missing")
    instance = await subject.instance()
    await subject.volumes.attach(name, instance)
    await subject.volumes.attach(name, instance)  # again: nothing changes
    assert (await subject.volumes.get(name)).used_by == (instance,)
    if subject.devices is not None:
        assert await subject.devices(instance) == {"root", "home"}
    with pytest.raises(TidepoolError):
        await subject.volumes.delete(name)
    await subject.drop_instance(instance)
    assert (await subject.volumes.get(name)).owner == OWNER, "the volume outlives it"
    await subject.volumes.delete(name)
    with pytest.raises(NotFoundError):
        await subject.volumes.delete(name)


async def test_a_volume_mounts_beside_home_and_unmounts_leaving_home_and_files(
    subject: Subject,
) -> None:
    home, copy = subject.name(), subject.name()
    await subject.volumes.create(home, OWNER)
    await subject.volumes.create(copy, OWNER)
    instance = await subject.instance()
    assert await subject.volumes.mounts(instance) == {}
    await subject.volumes.attach(home, instance)
    await subject.volumes.attach(copy, instance, path=COPY_PATH)
    await subject.volumes.attach(copy, instance, path=COPY_PATH)  # again: nothing changes
    assert await subject.volumes.mounts(instance) == {HOME_PATH: home, COPY_PATH: copy}
    assert (await subject.volumes.get(copy)).used_by == (instance,)
    if subject.devices is not None:
        assert await subject.devices(instance) == {"root", "home", "home-copy"}

    await subject.volumes.detach(instance, COPY_PATH)
    await subject.volumes.detach(instance, COPY_PATH)  # not there: nothing changes
    assert await subject.volumes.mounts(instance) == {HOME_PATH: home}
    assert (await subject.volumes.get(copy)).used_by == ()
    assert (await subject.volumes.get(home)).used_by == (instance,)
    if subject.devices is not None:
        assert await subject.devices(instance) == {"root", "home"}
    await subject.volumes.delete(copy)  # used by nothing any more


async def test_only_home_and_the_copy_path_are_mountable_and_a_missing_instance_is_not_found(
    subject: Subject,
) -> None:
    name = subject.name()
    await subject.volumes.create(name, OWNER)
    instance = await subject.instance()
    for path in ("/etc", "/home/dev/../../etc", "/mnt"):
        with pytest.raises(InvalidInputError):
            await subject.volumes.attach(name, instance, path=path)
        with pytest.raises(InvalidInputError):
            await subject.volumes.detach(instance, path)
    assert await subject.volumes.mounts(instance) == {}
    with pytest.raises(NotFoundError):
        await subject.volumes.attach(name, "tpc-vol-missing", path=COPY_PATH)
    with pytest.raises(NotFoundError):
        await subject.volumes.detach("tpc-vol-missing", COPY_PATH)
    with pytest.raises(NotFoundError):
        await subject.volumes.mounts("tpc-vol-missing")
