"""Home volumes in memory, for unit tests: each volume's files as a dict a test may write, so
that a restore or a copy can be seen doing what the real one does to them, and each
instance's mounts (``mounted``) as a dict a fake guest may read to find a volume's files."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.snapshots import Snapshot
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError, RuntimeOperationError
from tidepool.ports.volumes import HOME_PATH, MOUNT_DEVICES, HomeVolume


@dataclass
class _Volume:
    owner: InstanceOwner
    files: dict[str, bytes] = field(default_factory=dict)
    snapshots: dict[str, tuple[datetime, dict[str, bytes]]] = field(default_factory=dict)
    used_by: set[str] = field(default_factory=set)
    #: As asked (the fake enforces no limit: the Incus contract shows the real one holds).
    size_gib: int | None = None


class InMemoryHomeVolumes:
    def __init__(
        self,
        instances: Callable[[], Collection[str]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._instances = instances
        self._clock = clock
        self.volumes: dict[str, _Volume] = {}
        #: ``{instance: {path: volume}}``, as ``attach`` and ``detach`` leave it.
        self.mounted: dict[str, dict[str, str]] = {}

    def _get(self, name: str) -> _Volume:
        try:
            return self.volumes[name]
        except KeyError:
            raise NotFoundError(f"No home volume named {name!r}.") from None

    async def create(
        self,
        name: str,
        owner: InstanceOwner,
        *,
        copy_of: str = "",
        snapshot: str = "",
        size_gib: int | None = None,
    ) -> bool:
        files = self._files_of(copy_of, snapshot) if copy_of else {}
        if name in self.volumes:
            return False
        self.volumes[name] = _Volume(owner, dict(files), size_gib=size_gib)
        return True

    def _files_of(self, name: str, snapshot: str) -> dict[str, bytes]:
        volume = self._get(name)
        if not snapshot:
            return volume.files
        if snapshot not in volume.snapshots:
            raise NotFoundError(f"Home volume {name!r} has no snapshot {snapshot!r}.")
        return volume.snapshots[snapshot][1]

    async def get(self, name: str) -> HomeVolume:
        volume = self._get(name)
        live = self._instances()
        return HomeVolume(name, volume.owner, tuple(sorted(i for i in volume.used_by if i in live)))

    async def list(self) -> Sequence[HomeVolume]:
        return [await self.get(name) for name in sorted(self.volumes)]

    async def attach(self, name: str, instance: str, *, path: str = HOME_PATH) -> None:
        _mountable(path)
        volume = self._get(name)
        mounts = self._mounts_of(instance)
        replaced = mounts.get(path)
        mounts[path] = name
        if replaced is not None:
            self._unused(replaced, instance)
        volume.used_by.add(instance)

    async def detach(self, instance: str, path: str) -> None:
        _mountable(path)
        removed = self._mounts_of(instance).pop(path, None)
        if removed is not None:
            self._unused(removed, instance)

    async def mounts(self, instance: str) -> Mapping[str, str]:
        return dict(self._mounts_of(instance))

    def _mounts_of(self, instance: str) -> dict[str, str]:
        if instance not in self._instances():
            raise NotFoundError(f"No instance named {instance!r}.")
        return self.mounted.setdefault(instance, {})

    def _unused(self, name: str, instance: str) -> None:
        """``instance`` stops using volume ``name`` if no other path of it mounts that."""
        if name in self.volumes and name not in self.mounted[instance].values():
            self.volumes[name].used_by.discard(instance)

    async def snapshot(self, name: str, snapshot: str) -> None:
        volume = self._get(name)
        if snapshot in volume.snapshots:
            raise ConflictError(f"Home volume {name!r} has a snapshot {snapshot!r} already.")
        volume.snapshots[snapshot] = (self._clock(), dict(volume.files))

    async def snapshots(self, name: str) -> Sequence[Snapshot]:
        volume = self._get(name)
        taken = [Snapshot(snap, at) for snap, (at, _) in volume.snapshots.items()]
        return sorted(taken, key=lambda s: s.taken_at)

    async def restore(self, name: str, snapshot: str) -> None:
        volume = self._get(name)
        if snapshot not in volume.snapshots:
            raise NotFoundError(f"Home volume {name!r} has no snapshot {snapshot!r}.")
        volume.files = dict(volume.snapshots[snapshot][1])

    async def delete_snapshot(self, name: str, snapshot: str) -> None:
        volume = self._get(name)
        if volume.snapshots.pop(snapshot, None) is None:
            raise NotFoundError(f"Home volume {name!r} has no snapshot {snapshot!r}.")

    async def delete(self, name: str) -> None:
        volume = self._get(name)
        live = {i for i in volume.used_by if i in self._instances()}
        if live:
            raise RuntimeOperationError(
                f"Home volume {name!r} is attached to {', '.join(sorted(live))}."
            )
        del self.volumes[name]

    async def aclose(self) -> None:
        """Nothing to release."""


def _mountable(path: str) -> None:
    if path not in MOUNT_DEVICES:
        raise InvalidInputError(f"A home volume is not mounted at {path!r}.")
