"""Home volumes as Incus custom storage volumes on Tidepool's pool.

A volume is made owned by the workspace user (``initial.uid``/``gid``: the image's ``dev``),
records its owner in its own config (``user.tidepool.installation``/``workspace``, as an
instance does), and is mounted with a ``home`` disk device (``home-copy`` beside home while
a migration copies an older home in; a disk device added to or removed from a running
container is mounted or unmounted at once, Incus's hot-plug). A copy (a fork) is a btrfs
snapshot: about 60 ms whatever the size, measured here; ``volume_only`` leaves the source's
snapshots behind. A restore is Incus's own (``PUT {"restore": ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.room import ensure_room
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.snapshots import Snapshot
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError, RuntimeOperationError
from tidepool.ports.volumes import HOME_PATH, MOUNT_DEVICES, HomeVolume

INSTALLATION_KEY = "user.tidepool.installation"
WORKSPACE_KEY = "user.tidepool.workspace"
#: The workspace user (``dev``) in Tidepool's images.
USER_ID = "1000"
DEVICE = MOUNT_DEVICES[HOME_PATH]
#: Volume and snapshot names as Incus takes them (and as no path could be smuggled in); an
#: automatic snapshot's time has capitals (``auto-delete-20261207T090000Z``).
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SNAPSHOT = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")
#: What an instance's PUT takes back of what its GET gave (the rest is state, not config).
_WRITABLE = ("architecture", "config", "ephemeral", "profiles", "stateful", "description")
_RETRIES = 5


def _checked(name: str, what: str = "volume") -> str:
    if not (_SNAPSHOT if what == "snapshot" else _NAME).match(name):
        raise InvalidInputError(f"{name!r} is not a home {what} name.")
    return name


class IncusHomeVolumes:
    def __init__(self, client: IncusClient, pool: str = "tidepool") -> None:
        self._client = client
        self._pool = pool

    async def aclose(self) -> None:
        await self._client.aclose()

    def _path(self, name: str) -> str:
        return f"/1.0/storage-pools/{self._pool}/volumes/custom/{_checked(name)}"

    async def create(
        self,
        name: str,
        owner: InstanceOwner,
        *,
        copy_of: str = "",
        snapshot: str = "",
        size_gib: int | None = None,
    ) -> bool:
        body: dict[str, Any] = {
            "name": _checked(name),
            "content_type": "filesystem",
            "config": {
                INSTALLATION_KEY: owner.installation,
                WORKSPACE_KEY: owner.workspace_id,
            },
        }
        if size_gib is not None:
            # On btrfs a quota, as an instance's root disk's size: a write past it meets
            # "disk quota exceeded".
            body["config"]["size"] = f"{int(size_gib)}GiB"
        if copy_of:
            # A missing source is NotFoundError, as the port says.
            if snapshot and not any(s.name == snapshot for s in await self.snapshots(copy_of)):
                raise NotFoundError(f"Home volume {copy_of!r} has no snapshot {snapshot!r}.")
            await self.get(copy_of)
            source = _checked(copy_of) + (f"/{_checked(snapshot, 'snapshot')}" if snapshot else "")
            body["source"] = {
                "type": "copy",
                "pool": self._pool,
                "name": source,
                "volume_only": True,
            }
        else:
            body["config"] |= {"initial.uid": USER_ID, "initial.gid": USER_ID}
        # A full pool is told as an instance's create tells it (``StorageFullError``): a
        # workspace's volume is made first, so it meets a full pool first.
        await ensure_room(self._client, self._pool)
        try:
            await self._client.run(
                "POST", f"/1.0/storage-pools/{self._pool}/volumes/custom", json=body
            )
        except (ConflictError, RuntimeOperationError) as error:
            if "already exists" in str(error) or isinstance(error, ConflictError):
                return False
            raise
        return True

    async def get(self, name: str) -> HomeVolume:
        found = await self._client.sync("GET", self._path(name))
        return _volume(found)

    async def list(self) -> Sequence[HomeVolume]:
        found = await self._client.sync(
            "GET", f"/1.0/storage-pools/{self._pool}/volumes/custom", params={"recursion": "1"}
        )
        # The listing has each snapshot too, as ``VOLUME/SNAPSHOT``: not a volume of its own.
        volumes = [_volume(entry) for entry in found or [] if "/" not in entry["name"]]
        return sorted((v for v in volumes if v.owner is not None), key=lambda v: v.name)

    async def attach(self, name: str, instance: str, *, path: str = HOME_PATH) -> None:
        device_name = _device(path)
        await self.get(name)
        device = {"type": "disk", "pool": self._pool, "source": name, "path": path}
        where = f"/1.0/instances/{_checked(instance, 'instance')}"
        # PATCH merges devices by name: the others (root, a home beside a copy) stay.
        await self._client.run("PATCH", where, json={"devices": {device_name: device}})

    async def detach(self, instance: str, path: str) -> None:
        device_name = _device(path)
        where = f"/1.0/instances/{_checked(instance, 'instance')}"
        # PATCH cannot remove a device: the whole instance is PUT back without it, with
        # If-Match, so that a change made meanwhile by someone else is never undone (412:
        # read again and retry).
        for _ in range(_RETRIES):
            response = await self._client.request("GET", where)
            found = response.json().get("metadata") or {}
            devices = dict(found.get("devices") or {})
            if devices.pop(device_name, None) is None:
                return
            body = {key: found[key] for key in _WRITABLE if key in found} | {"devices": devices}
            try:
                await self._client.run(
                    "PUT", where, json=body, headers={"If-Match": response.headers.get("ETag", "")}
                )
            except RuntimeOperationError as error:
                if "HTTP 412" in str(error):
                    continue
                raise
            return
        raise ConflictError(f"Instance {instance!r} kept changing; {path} is still mounted.")

    async def mounts(self, instance: str) -> Mapping[str, str]:
        found = await self._client.sync("GET", f"/1.0/instances/{_checked(instance, 'instance')}")
        return {
            device["path"]: device["source"]
            for name, device in (found.get("devices") or {}).items()
            if device.get("type") == "disk"
            and device.get("pool") == self._pool
            and MOUNT_DEVICES.get(device.get("path", "")) == name
            and device.get("source")
        }

    async def snapshot(self, name: str, snapshot: str) -> None:
        if any(s.name == snapshot for s in await self.snapshots(name)):
            raise ConflictError(f"Home volume {name!r} has a snapshot {snapshot!r} already.")
        await self._client.run(
            "POST", f"{self._path(name)}/snapshots", json={"name": _checked(snapshot, "snapshot")}
        )

    async def snapshots(self, name: str) -> Sequence[Snapshot]:
        found = await self._client.sync(
            "GET", f"{self._path(name)}/snapshots", params={"recursion": "1"}
        )
        taken = [
            Snapshot(entry["name"].rpartition("/")[2], datetime.fromisoformat(entry["created_at"]))
            for entry in found or []
        ]
        return sorted(taken, key=lambda s: s.taken_at)

    async def restore(self, name: str, snapshot: str) -> None:
        if not any(s.name == snapshot for s in await self.snapshots(name)):
            raise NotFoundError(f"Home volume {name!r} has no snapshot {snapshot!r}.")
        await self._client.run("PUT", self._path(name), json={"restore": snapshot})

    async def delete_snapshot(self, name: str, snapshot: str) -> None:
        await self._client.run(
            "DELETE", f"{self._path(name)}/snapshots/{_checked(snapshot, 'snapshot')}"
        )

    async def delete(self, name: str) -> None:
        await self._client.run("DELETE", self._path(name))


def _device(path: str) -> str:
    try:
        return MOUNT_DEVICES[path]
    except KeyError:
        raise InvalidInputError(f"A home volume is not mounted at {path!r}.") from None


def _volume(entry: dict[str, Any]) -> HomeVolume:
    config = entry.get("config") or {}
    installation, workspace = config.get(INSTALLATION_KEY), config.get(WORKSPACE_KEY)
    owner = InstanceOwner(installation, workspace) if installation and workspace else None
    used_by = tuple(
        user.rpartition("/")[2].partition("?")[0]
        for user in entry.get("used_by") or []
        if "/instances/" in user
    )
    return HomeVolume(entry["name"], owner, used_by)
