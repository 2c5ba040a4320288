"""The home migration run against the fakes: from every state a crash can leave (an exception at
each step boundary, or a copy cut short) a fresh run ends with home on the volume, every file
in it, the instance stopped, and nothing mounted beside home.

The fake runtime's guest is taught here (``Guest``, its ``exec_handler``) what a migration
runs: a mount is whatever the fake volumes say is mounted, and a volume's files are the fake
volume's own, so a copy made into the root filesystem instead would be seen missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from tidepool.adapters.fakes.runtime import FakeFile, FakeInstance, InMemoryRuntime
from tidepool.adapters.fakes.volumes import InMemoryHomeVolumes
from tidepool.domain.home_migration import COPIED_MARKER, COPY_PATH
from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import ConflictError, RuntimeOperationError
from tidepool.ports import ExecResult, InstanceSpec, InstanceStatus
from tidepool.ports.volumes import HOME_PATH
from tidepool.services.home_migration import COPY, STEPS, HomeMigration

INSTANCE = InstanceName("ws-home-1")
VOLUME = "home-ws-home-1"
OWNER = InstanceOwner("a" * 32, "workspace-1")
HOME = {
    "notes.txt": FakeFile(b"private\n", 0o600, 1000, 1000),
    ".bashrc": FakeFile(b"export EDITOR=vi\n", 0o644, 1000, 1000),
    "data/odd.bin": FakeFile(bytes(range(256)) + b"\r\n\x00", 0o644, 1000, 1000),
}


class Crash(Exception):
    """Where a test's process 'dies'."""


@dataclass
class Guest:
    """What the migration runs in a fake instance, over the fake volumes' mounts."""

    volumes: InMemoryHomeVolumes
    #: Files copied before the copy "dies" (None: it finishes).
    copy_dies_after: int | None = None
    copy_fails: bool = False
    #: Each file's owner in a volume, ``(volume, path) -> uid``.
    owners: dict[tuple[str, str], int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def _mounted(self, instance: FakeInstance, path: str) -> tuple[str, str] | None:
        """The volume and the path in it that ``path`` reaches through a mount, if any."""
        prefix = COPY_PATH + "/"
        if not path.startswith(prefix):
            return None
        volume = self.volumes.mounted.get(instance.name, {}).get(COPY_PATH)
        return None if volume is None else (volume, path.removeprefix(prefix))

    def __call__(
        self, instance: FakeInstance, argv: Sequence[str], user: int | None, env: Mapping[str, str]
    ) -> ExecResult | None:
        argv = list(argv)
        if argv[:2] == ["timeout", "60"] or argv == ["sync"] or argv[:2] == ["mkdir", "-p"]:
            return ExecResult(0, "", "")
        if argv[:2] == ["systemctl", "stop"]:
            self.events.append("ide stopped")
            return ExecResult(5, "", "Failed to stop code-server.service: Unit not loaded.\n")
        if argv[:2] == ["mountpoint", "-q"]:
            mounted = argv[2] in self.volumes.mounted.get(instance.name, {})
            return ExecResult(0 if mounted else 1, "", "")
        if argv == COPY:
            return self._copy(instance)
        where = self._mounted(instance, argv[-1])
        if where is None:
            return None  # the fake's own guest: files of the root filesystem
        volume, path = where
        files = self.volumes.volumes[volume].files
        if argv[:2] == ["rm", "-f"]:
            files.pop(path, None)
            return ExecResult(0, "", "")
        if argv[0] == "touch":
            if path not in files:  # touch keeps an existing file's owner
                files[path] = b""
                self.owners[(volume, path)] = 0 if user is None else user
            return ExecResult(0, "", "")
        if argv[:3] == ["stat", "-c", "%u"]:
            if path not in files:
                return ExecResult(1, "", "stat: cannot statx: No such file or directory\n")
            return ExecResult(0, f"{self.owners[(volume, path)]}\n", "")
        raise AssertionError(f"unexpected command {argv}")

    def _copy(self, instance: FakeInstance) -> ExecResult:
        self.events.append("copy")
        if self.copy_fails:
            return ExecResult(1, "", "cp: error writing: No space left on device\n")
        home = sorted(p for p in instance.files if p.startswith(HOME_PATH + "/"))
        for count, path in enumerate(home):
            if count == self.copy_dies_after:
                raise Crash("the copy died halfway")
            target = COPY_PATH + path.removeprefix(HOME_PATH)
            where = self._mounted(instance, target)
            original = instance.files[path]
            if where is None:
                instance.files[target] = FakeFile(original.content, original.mode, original.uid)
            else:
                self.volumes.volumes[where[0]].files[where[1]] = original.content
                self.owners[where] = original.uid
        return ExecResult(0, "", "")


@dataclass
class World:
    runtime: InMemoryRuntime
    volumes: InMemoryHomeVolumes
    guest: Guest

    def migration(self, reached: Callable[[str], None] = lambda step: None) -> HomeMigration:
        return HomeMigration(self.runtime, self.volumes, reached=reached)

    def volume_files(self) -> dict[str, bytes]:
        return dict(self.volumes.volumes[VOLUME].files)

    def assert_migrated(self) -> None:
        assert self.volumes.mounted[INSTANCE] == {HOME_PATH: VOLUME}, "home, nothing beside"
        assert self.runtime.instances[INSTANCE].status is InstanceStatus.STOPPED
        files = self.volume_files()
        assert {p: files.get(p) for p in HOME} == {p: f.content for p, f in HOME.items()}
        assert {p: self.guest.owners[(VOLUME, p)] for p in HOME} == dict.fromkeys(HOME, 1000)
        assert self.guest.owners[(VOLUME, COPIED_MARKER)] == 0, "the marker, root's"
        home = {p: f for p, f in self.runtime.instances[INSTANCE].files.items()}
        assert all(HOME_PATH + "/" + p in home for p in HOME), "the old home stays"


@pytest.fixture
async def world() -> World:
    volumes = InMemoryHomeVolumes(lambda: runtime.instances.keys())
    guest = Guest(volumes)
    runtime = InMemoryRuntime(exec_handler=guest)
    await runtime.create(InstanceSpec(name=INSTANCE, image="tidepool-workspace"))
    instance = runtime.instances[INSTANCE]
    for path, file in HOME.items():
        instance.files[f"{HOME_PATH}/{path}"] = FakeFile(file.content, file.mode, file.uid)
    return World(runtime, volumes, guest)


async def _running(world: World) -> None:
    await world.runtime.start(INSTANCE)


async def _volume_made(world: World) -> None:
    await world.volumes.create(VOLUME, OWNER)


async def _half_copied_and_mounted(world: World) -> None:
    await _volume_made(world)
    await world.runtime.start(INSTANCE)
    await world.volumes.attach(VOLUME, INSTANCE, path=COPY_PATH)
    world.volumes.volumes[VOLUME].files["notes.txt"] = b"pri"  # a file cut short
    world.guest.owners[(VOLUME, "notes.txt")] = 1000


async def _copied_then_stopped(world: World) -> None:
    with pytest.raises(Crash):
        await world.migration(_crash_at("home_instance_stopped")).migrate(INSTANCE, VOLUME, OWNER)


async def _a_marker_forged_in_home(world: World) -> None:
    forged = FakeFile(b"", 0o644, 1000, 1000)
    world.runtime.instances[INSTANCE].files[f"{HOME_PATH}/{COPIED_MARKER}"] = forged
    await _half_copied_and_mounted(world)


def _crash_at(boundary: str) -> Callable[[str], None]:
    def reached(step: str) -> None:
        if step == boundary:
            raise Crash(step)

    return reached


async def _nothing(world: World) -> None:
    return None


STARTS = {
    "stopped, no volume": _nothing,
    "running, no volume": _running,
    "volume made, stopped": _volume_made,
    "a copy cut short, mounted, running": _half_copied_and_mounted,
    "copied, stopped": _copied_then_stopped,
    "a marker the user made in home": _a_marker_forged_in_home,
}


@pytest.mark.parametrize("start", STARTS)
async def test_a_migration_from_every_starting_state_ends_with_home_on_the_volume(
    world: World, start: str
) -> None:
    await STARTS[start](world)
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    world.assert_migrated()


async def test_a_first_run_passes_every_boundary_in_order(world: World) -> None:
    passed: list[str] = []
    await world.migration(passed.append).migrate(INSTANCE, VOLUME, OWNER)
    assert passed == list(STEPS)
    world.assert_migrated()


@pytest.mark.parametrize("boundary", STEPS)
async def test_a_crash_at_each_boundary_then_a_fresh_run_converges(
    world: World, boundary: str
) -> None:
    with pytest.raises(Crash):
        await world.migration(_crash_at(boundary)).migrate(INSTANCE, VOLUME, OWNER)
    passed: list[str] = []
    await world.migration(passed.append).migrate(INSTANCE, VOLUME, OWNER)
    world.assert_migrated()
    if boundary == "home_attached":
        assert passed == [], "the crash came after the last step: nothing is left to do"


async def test_a_copy_that_dies_halfway_is_done_again_over_itself(world: World) -> None:
    world.guest.copy_dies_after = 1
    with pytest.raises(Crash):
        await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    assert COPIED_MARKER not in world.volume_files()
    assert len(world.volume_files()) == 1, "one file copied, then the copy died"
    world.guest.copy_dies_after = None
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    world.assert_migrated()
    assert world.guest.events == ["ide stopped", "copy", "ide stopped", "copy"]


async def test_a_marker_the_user_made_copied_in_by_a_copy_cut_short_does_not_count(
    world: World,
) -> None:
    forged = FakeFile(b"", 0o644, 1000, 1000)
    world.runtime.instances[INSTANCE].files[f"{HOME_PATH}/{COPIED_MARKER}"] = forged
    world.guest.copy_dies_after = 2  # .bashrc, then the user's marker
    with pytest.raises(Crash):
        await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    assert world.guest.owners[(VOLUME, COPIED_MARKER)] == 1000
    assert "notes.txt" not in world.volume_files()
    world.guest.copy_dies_after = None
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    world.assert_migrated()


async def test_a_failed_copy_stops_the_migration_without_a_marker(world: World) -> None:
    world.guest.copy_fails = True
    with pytest.raises(RuntimeOperationError, match="No space left"):
        await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    assert COPIED_MARKER not in world.volume_files()
    assert HOME_PATH not in world.volumes.mounted[INSTANCE], "home is still the old one"
    world.guest.copy_fails = False
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    world.assert_migrated()


async def test_the_ide_stops_before_the_copy_and_the_copy_mount_goes_before_the_stop(
    world: World,
) -> None:
    seen: dict[str, tuple[dict[str, str], InstanceStatus]] = {}

    def reached(step: str) -> None:
        instance = world.runtime.instances[INSTANCE]
        seen[step] = (dict(world.volumes.mounted.get(INSTANCE, {})), instance.status)

    await world.migration(reached).migrate(INSTANCE, VOLUME, OWNER)
    assert world.guest.events == ["ide stopped", "copy"]
    running = InstanceStatus.RUNNING
    assert seen["home_copy_marked"] == ({COPY_PATH: VOLUME}, running)
    assert seen["home_copied"] == ({}, running), "unmounted while it still runs"
    assert seen["home_instance_stopped"] == ({}, InstanceStatus.STOPPED)
    assert seen["home_attached"] == ({HOME_PATH: VOLUME}, InstanceStatus.STOPPED)


async def test_a_migrated_home_is_left_alone(world: World) -> None:
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    await world.runtime.start(INSTANCE)
    world.runtime.calls.clear()
    await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    assert [step for step, _ in world.runtime.calls] == ["state"], "looked, did nothing"
    assert world.runtime.instances[INSTANCE].status is InstanceStatus.RUNNING


async def test_a_volume_of_that_name_owned_by_another_is_never_mounted(world: World) -> None:
    await world.volumes.create(VOLUME, InstanceOwner("b" * 32, "someone-else"))
    with pytest.raises(ConflictError):
        await world.migration().migrate(INSTANCE, VOLUME, OWNER)
    assert world.volumes.mounted.get(INSTANCE, {}) == {}
    assert world.runtime.instances[INSTANCE].status is InstanceStatus.STOPPED
