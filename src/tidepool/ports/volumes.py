"""The home volume port: a workspace's ``/home/dev`` on a storage volume of its own.

Issue 29 groundwork: the contract and its two implementations (Incus custom volumes on the
storage pool, and an in-memory fake), kept honest against each other by
``tests/contract/test_home_volume_contract.py``; nothing creates workspaces on volumes yet.

A volume outlives its instance on purpose (a rebuild replaces the instance and keeps home; a
deleted workspace's home is kept for ``undelete``), so a volume carries its owner as an
instance does (``InstanceOwner``): nothing deletes a volume it cannot prove is its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tidepool.domain.home_migration import COPY_PATH
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.snapshots import Snapshot

#: Where a home volume is mounted in its workspace.
HOME_PATH = "/home/dev"
#: Every path a home volume may be mounted at, with the name of the runtime's device for it:
#: home itself, and beside it while an older workspace's home is copied in
#: (``tidepool.domain.home_migration``). No other path: nothing can mount over ``/etc``.
MOUNT_DEVICES: Mapping[str, str] = {HOME_PATH: "home", COPY_PATH: "home-copy"}


@dataclass(frozen=True, slots=True)
class HomeVolume:
    name: str
    owner: InstanceOwner | None
    #: The instances it is attached to.
    used_by: tuple[str, ...] = ()


@runtime_checkable
class HomeVolumes(Protocol):
    async def create(
        self,
        name: str,
        owner: InstanceOwner,
        *,
        copy_of: str = "",
        snapshot: str = "",
        size_gib: int | None = None,
    ) -> bool:
        """Make volume ``name`` (the workspace user's, empty; or a copy-on-write copy of
        ``copy_of``'s files, as they are now or as they were in its ``snapshot``, without
        its snapshots) recording ``owner``, holding at most ``size_gib`` (None: no limit but
        the pool's; a write past it fails as a full disk does). False when one of that name
        exists already (nothing changes). ``NotFoundError`` for a missing ``copy_of`` or
        ``snapshot``."""
        ...

    async def get(self, name: str) -> HomeVolume:
        """``NotFoundError`` when there is none."""
        ...

    async def list(self) -> Sequence[HomeVolume]:
        """Every volume that records an owner (what Tidepool made), by name."""
        ...

    async def attach(self, name: str, instance: str, *, path: str = HOME_PATH) -> None:
        """Mount the volume at ``path`` (``HOME_PATH``, or another of ``MOUNT_DEVICES``) in
        ``instance`` (again: nothing changes; another volume there is replaced). A stopped
        instance has it from its next start, a running one at once (the copy of a migration
        needs its home and the volume side by side). ``NotFoundError`` for a missing volume or
        instance, ``InvalidInputError`` for a path not in ``MOUNT_DEVICES``."""
        ...

    async def detach(self, instance: str, path: str) -> None:
        """Unmount what ``attach`` mounted at ``path`` in ``instance``, running or stopped; the
        volume and its files stay. Nothing there: nothing changes (a migration cut short
        removes its copy's mount again without knowing whether it got that far).
        ``NotFoundError`` for a missing instance, ``InvalidInputError`` as for ``attach``."""
        ...

    async def mounts(self, instance: str) -> Mapping[str, str]:
        """The home volumes mounted in ``instance``, as ``{path: volume}``: whether its home
        is a volume, and which, is a fact read here, not a record kept elsewhere.
        ``NotFoundError`` for a missing instance."""
        ...

    async def snapshot(self, name: str, snapshot: str) -> None:
        """Take ``snapshot`` of the volume now. ``ConflictError`` if that name is taken."""
        ...

    async def snapshots(self, name: str) -> Sequence[Snapshot]:
        """The volume's snapshots, oldest first."""
        ...

    async def restore(self, name: str, snapshot: str) -> None:
        """Put the volume's files back as they were in ``snapshot`` (its instance stopped).
        ``NotFoundError`` for a missing snapshot."""
        ...

    async def delete_snapshot(self, name: str, snapshot: str) -> None:
        """``NotFoundError`` for a missing snapshot."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the volume and its snapshots (attached to no instance). ``NotFoundError``."""
        ...

    async def aclose(self) -> None:
        """Release what it holds open (a connection to the runtime's daemon)."""
        ...
