"""Importing images into Incus and pointing a versioned alias at them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tidepool.adapters.incus.client import IncusClient
from tidepool.errors import NotFoundError


async def image_for_alias(client: IncusClient, alias: str) -> dict[str, Any] | None:
    """The image an alias points at (with its properties), or None."""
    try:
        target = await client.sync("GET", f"/1.0/images/aliases/{alias}")
    except NotFoundError:
        return None
    image: dict[str, Any] = await client.sync("GET", f"/1.0/images/{target['target']}")
    return image


async def _chunks(path: Path, size: int = 4 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(size):
            yield chunk


async def import_unified_tarball(client: IncusClient, tarball: Path, alias: str) -> str:
    """Upload a unified image tarball, point ``alias`` at it, drop the image it replaced."""
    previous = await image_for_alias(client, alias)
    response = await client.request(
        "POST",
        "/1.0/images",
        content=_chunks(tarball),
        headers={"Content-Type": "application/octet-stream"},
        timeout=1800,
    )
    operation = response.json()["operation"]
    result = await client.wait_operation(operation, timeout=1800)
    fingerprint = str(result["metadata"]["fingerprint"])
    if previous is None:
        await client.sync(
            "POST", "/1.0/images/aliases", json={"name": alias, "target": fingerprint}
        )
    elif previous["fingerprint"] != fingerprint:
        await client.sync("PATCH", f"/1.0/images/aliases/{alias}", json={"target": fingerprint})
        with contextlib.suppress(NotFoundError):
            await client.run("DELETE", f"/1.0/images/{previous['fingerprint']}")
    return fingerprint
