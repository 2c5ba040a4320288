"""``IncusRuntime``: the ``Runtime`` port on Incus, through its REST API.

Instances Tidepool made carry ``user.tidepool.managed=true`` so ``list()`` never touches
anything else on the host, and their owner (``user.tidepool.installation`` and
``user.tidepool.workspace``) so that nothing deletes what another installation, or another
database, still wants (``tidepool.domain.ownership``). Workspace settings reach the instance
as ``/etc/tidepool/workspace.env``, which the code-server service reads: rendered at the first
start from the instance's config by the image's template (Tidepool's images from revision 2),
or pushed before the first start into an image without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.images import image_for_alias
from tidepool.adapters.incus.room import ensure_room
from tidepool.domain.environment import (
    ENVIRONMENT_CONFIG_KEY,
    ENVIRONMENT_TEMPLATE_PROPERTY,
    WORKSPACE_ENV_PATH,
    config_text,
    render_env_file,
)
from tidepool.domain.names import validate_workspace_name
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeOperationError,
    TimeoutExpiredError,
)
from tidepool.ports import ExecResult, InstanceSpec, InstanceState, InstanceStatus

MANAGED_KEY = "user.tidepool.managed"
INSTALLATION_KEY = "user.tidepool.installation"
WORKSPACE_KEY = "user.tidepool.workspace"

_STATUS = {
    "Running": InstanceStatus.RUNNING,
    "Stopped": InstanceStatus.STOPPED,
    "Starting": InstanceStatus.STARTING,
    "Stopping": InstanceStatus.STOPPING,
    "Error": InstanceStatus.ERROR,
}


class IncusRuntime:
    """Workspace instances as Incus system containers (or VMs where the host allows)."""

    def __init__(
        self,
        client: IncusClient,
        *,
        profile: str = "tidepool",
        pool: str = "tidepool",
        instance_type: str = "container",
        poll_interval: float = 0.05,
    ) -> None:
        self._client = client
        self._profile = profile
        self._pool = pool
        self._instance_type = instance_type
        self._poll_interval = poll_interval

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create(self, spec: InstanceSpec) -> InstanceState:
        name = validate_workspace_name(spec.name)
        env_file = render_env_file(spec.environment)
        body: dict[str, Any] = {
            "name": name,
            "type": self._instance_type,
            "source": {"type": "image", "alias": spec.image},
            "profiles": [self._profile],
            "config": {
                MANAGED_KEY: "true",
                "limits.cpu": str(spec.cpus),
                "limits.memory": f"{spec.memory_mib}MiB",
                **(_owner_config(spec.owner) if spec.owner else {}),
            },
            "start": False,
        }
        if spec.disk_gib is not None:
            # The profile's root disk, with a size: on btrfs a quota, which a write past it
            # meets as "disk quota exceeded".
            body["devices"] = {
                "root": {
                    "type": "disk",
                    "path": "/",
                    "pool": self._pool,
                    "size": f"{spec.disk_gib}GiB",
                }
            }
        image = await image_for_alias(self._client, spec.image)
        if image is None:
            raise NotFoundError(
                f"Image {spec.image!r} is not in Incus; build it with `tidepool image build`."
            )
        # An image that renders the file from the config gets it there; an older one (or one
        # built elsewhere) gets it pushed before the first start, as before.
        rendered = (image.get("properties") or {}).get(ENVIRONMENT_TEMPLATE_PROPERTY) == "true"
        if env_file and rendered:
            body["config"][ENVIRONMENT_CONFIG_KEY] = config_text(env_file)
        if await self._exists(name):
            raise ConflictError(f"An instance named {name!r} already exists.")
        await ensure_room(self._client, self._pool)
        try:
            await self._client.run(
                "POST",
                "/1.0/instances",
                json=body,
                params={"target": spec.target} if spec.target else None,
                timeout=600,
            )
        except RuntimeOperationError as error:
            if "already exists" in str(error) or "UNIQUE constraint" in str(error):
                raise ConflictError(f"An instance named {name!r} already exists.") from error
            raise
        if env_file and not rendered:
            await self.push_file(name, WORKSPACE_ENV_PATH, env_file)
        return await self.state(name)

    async def start(self, name: str) -> None:
        """Start it; already running is done. Two reconciles of one workspace can both see it
        stopped (a job SQS delivered twice, on a standard queue): the loser's "already
        running" from Incus is that same success, not a failure of the workspace."""
        if (await self.state(name)).status is InstanceStatus.RUNNING:
            return
        try:
            await self._change_state(name, {"action": "start"})
        except RuntimeOperationError:
            if (await self.state(name)).status is InstanceStatus.RUNNING:
                return
            raise

    async def stop(self, name: str) -> None:
        """Stop cleanly; an instance that ignores the request (still booting) is forced."""
        if (await self.state(name)).status is InstanceStatus.STOPPED:
            return
        try:
            await self._change_state(name, {"action": "stop", "timeout": 30, "force": False})
        except (RuntimeOperationError, TimeoutExpiredError):
            if (await self.state(name)).status is InstanceStatus.STOPPED:
                return
            await self._change_state(name, {"action": "stop", "force": True})

    async def delete(self, name: str) -> None:
        """Stop (forcefully) and delete. Two deletes of one instance at once (a job delivered
        twice) race: a refusal after which the instance is stopped, or gone, is the other
        delete's work, and gone is ``NotFoundError`` as for any missing instance."""
        try:
            if (await self.state(name)).status is not InstanceStatus.STOPPED:
                try:
                    await self._change_state(name, {"action": "stop", "force": True})
                except RuntimeOperationError:
                    if (await self.state(name)).status is not InstanceStatus.STOPPED:
                        raise
            await self._client.run("DELETE", f"/1.0/instances/{name}")
        except RuntimeOperationError as error:
            if await self._exists(name):
                raise
            raise NotFoundError(f"Instance {name!r} was deleted meanwhile.") from error

    async def _exists(self, name: str) -> bool:
        try:
            await self._client.sync("GET", f"/1.0/instances/{name}")
        except NotFoundError:
            return False
        return True

    async def state(self, name: str) -> InstanceState:
        validate_workspace_name(name)
        metadata = await self._client.sync("GET", f"/1.0/instances/{name}/state")
        return _state_from(name, metadata)

    async def list(self) -> Sequence[InstanceState]:
        instances = await self._client.sync("GET", "/1.0/instances", params={"recursion": "2"})
        return [
            replace(
                _state_from(item["name"], item.get("state") or {}),
                owner=_owner_from(item.get("config") or {}),
            )
            for item in instances or []
            # An instance being created or deleted may have no config (null) yet or any more.
            if (item.get("config") or {}).get(MANAGED_KEY) == "true"
        ]

    async def owner(self, name: str) -> InstanceOwner | None:
        validate_workspace_name(name)
        metadata = await self._client.sync("GET", f"/1.0/instances/{name}")
        return _owner_from(metadata.get("config") or {})

    async def claim(self, name: str, owner: InstanceOwner) -> None:
        validate_workspace_name(name)
        # PATCH merges these keys into the instance's config and leaves the rest alone.
        await self._client.run(
            "PATCH", f"/1.0/instances/{name}", json={"config": _owner_config(owner)}
        )

    async def take(self, name: str, expected: InstanceOwner, owner: InstanceOwner) -> bool:
        validate_workspace_name(name)
        # Incus refuses a write whose If-Match is not the instance's ETag any more (412): the
        # read and the write are one compare-and-swap.
        response = await self._client.request("GET", f"/1.0/instances/{name}")
        config = (response.json().get("metadata") or {}).get("config") or {}
        if _owner_from(config) != expected:
            return False
        try:
            await self._client.run(
                "PATCH",
                f"/1.0/instances/{name}",
                json={"config": _owner_config(owner)},
                headers={"If-Match": response.headers.get("ETag", "")},
            )
        except RuntimeOperationError as error:
            if "HTTP 412" in str(error):
                return False
            raise
        return True

    async def image_id(self, image: str) -> str:
        found = await image_for_alias(self._client, image)
        if found is None:
            raise NotFoundError(
                f"Image {image!r} is not in Incus; build it with `tidepool image build`."
            )
        return str(found["fingerprint"])

    async def wait_for_ipv4(self, name: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            current = await self.state(name)
            if current.ipv4:
                return current.ipv4
            if current.status is InstanceStatus.STOPPED:
                raise RuntimeOperationError(f"Instance {name!r} is stopped; it has no address.")
            if time.monotonic() >= deadline:
                raise TimeoutExpiredError(f"Instance {name!r} got no IPv4 address in {timeout}s.")
            await asyncio.sleep(self._poll_interval)

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        user: int | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ExecResult:
        validate_workspace_name(name)
        if not argv:
            raise InvalidInputError("exec needs a command.")
        body: dict[str, Any] = {
            "command": list(argv),
            "environment": dict(env or {}),
            "wait-for-websocket": False,
            "interactive": False,
            "record-output": True,
        }
        if user is not None:
            body["user"] = user
            body["group"] = user
        metadata = await self._client.run(
            "POST", f"/1.0/instances/{name}/exec", json=body, timeout=timeout
        )
        result = metadata.get("metadata") or {}
        outputs: Mapping[str, str] = result.get("output") or {}
        stdout = await self._read_log(outputs.get("1"))
        stderr = await self._read_log(outputs.get("2"))
        return ExecResult(exit_code=int(result.get("return", -1)), stdout=stdout, stderr=stderr)

    async def push_file(
        self, name: str, path: str, content: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> None:
        validate_workspace_name(name)
        if not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise InvalidInputError(f"{path!r} must be an absolute, normalised path.")
        parent = posixpath.dirname(path)
        await self._ensure_directory(name, parent)
        await self._client.request(
            "POST",
            f"/1.0/instances/{name}/files",
            params={"path": path},
            content=content,
            headers={
                "X-Incus-type": "file",
                "X-Incus-mode": f"{mode:04o}",
                "X-Incus-uid": str(uid),
                "X-Incus-gid": str(gid),
                "X-Incus-write": "overwrite",
                "Content-Type": "application/octet-stream",
            },
        )

    async def _ensure_directory(self, name: str, path: str) -> None:
        """Create ``path`` and its parents inside the instance (root-owned, 0755). Another
        writer (a second reconcile of the same job) may make it between the look and the
        mkdir: Incus's "file exists" is then the same success."""
        if path == "/" or await self._is_there(name, path):
            return
        await self._ensure_directory(name, posixpath.dirname(path))
        try:
            await self._client.request(
                "POST",
                f"/1.0/instances/{name}/files",
                params={"path": path},
                headers={"X-Incus-type": "directory", "X-Incus-mode": "0755"},
            )
        except RuntimeOperationError:
            if not await self._is_there(name, path):
                raise

    async def _is_there(self, name: str, path: str) -> bool:
        try:
            await self._client.request(
                "HEAD", f"/1.0/instances/{name}/files", params={"path": path}
            )
        except NotFoundError:
            return False
        return True

    async def _change_state(self, name: str, action: Mapping[str, Any]) -> None:
        await self._client.run("PUT", f"/1.0/instances/{name}/state", json=dict(action))

    async def _read_log(self, log_path: str | None) -> str:
        if not log_path:
            return ""
        response = await self._client.request("GET", log_path)
        with contextlib.suppress(NotFoundError):
            await self._client.request("DELETE", log_path)
        return response.content.decode(errors="replace")


def _owner_config(owner: InstanceOwner) -> dict[str, str]:
    return {INSTALLATION_KEY: owner.installation, WORKSPACE_KEY: owner.workspace_id}


def _owner_from(config: Mapping[str, Any]) -> InstanceOwner | None:
    installation, workspace = config.get(INSTALLATION_KEY), config.get(WORKSPACE_KEY)
    if not installation or not workspace:
        return None
    return InstanceOwner(installation=str(installation), workspace_id=str(workspace))


def _state_from(name: str, metadata: Mapping[str, Any]) -> InstanceState:
    status = _STATUS.get(str(metadata.get("status")), InstanceStatus.UNKNOWN)
    return InstanceState(name=name, status=status, ipv4=_global_ipv4(metadata))


def _global_ipv4(metadata: Mapping[str, Any]) -> str | None:
    for device, info in (metadata.get("network") or {}).items():
        if device == "lo":
            continue
        for address in info.get("addresses") or []:
            if address.get("family") == "inet" and address.get("scope") == "global":
                return str(address["address"])
    return None
