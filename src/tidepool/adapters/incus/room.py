"""Whether the storage pool has room for one more workspace, asked before it is made.

A create on a pool with a few bytes left sometimes fails (Incus cannot write the instance's
``backup.yaml``) and sometimes goes through: a btrfs snapshot of the image takes almost no
space, so the workspace starts and then meets a full disk at its first save. Asking first
makes the answer the same every time, and the user hears it before anything is made.
"""

from __future__ import annotations

import contextlib

from tidepool.adapters.incus.client import IncusClient, operation_error
from tidepool.errors import NotFoundError, RuntimeOperationError

#: Space a new workspace needs to be useful (code-server's first start writes its extensions
#: and settings, and the user's first files follow), with margin for how Incus counts: on
#: btrfs its figure is the filesystem's ``f_bfree``, which includes the unused part of the
#: metadata chunks, a few hundred MiB that no file can take. Below it a create is refused.
MIN_FREE_BYTES = 1 << 30


async def free_bytes(client: IncusClient, pool: str) -> int | None:
    """Bytes left on ``pool`` as Incus sees them, or None when Incus does not say (a pool
    driver without the figures, or a project that may not read the pool)."""
    with contextlib.suppress(NotFoundError, RuntimeOperationError):
        resources = await client.sync("GET", f"/1.0/storage-pools/{pool}/resources")
        space = resources.get("space") if isinstance(resources, dict) else None
        if isinstance(space, dict) and space.get("total"):
            return int(space["total"]) - int(space.get("used") or 0)
    return None


async def ensure_room(client: IncusClient, pool: str) -> None:
    """Refuse (``StorageFullError``) when ``pool`` has less than ``MIN_FREE_BYTES`` left."""
    left = await free_bytes(client, pool)
    if left is not None and left < MIN_FREE_BYTES:
        raise operation_error(
            f"no space left on device: storage pool {pool!r} has {left >> 20} MiB left,"
            f" a workspace needs {MIN_FREE_BYTES >> 20} MiB"
        )
