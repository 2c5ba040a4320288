"""A bare instance for tests of the runtime adapter itself (no workspace record around it)."""

from __future__ import annotations

from tidepool.ports import InstanceSpec, Runtime
from tidepool.settings import Settings


async def launch(runtime: Runtime, name: str, settings: Settings, image: str = "") -> str:
    """Create ``name`` from the workspace image (or ``image``), start it, return its IPv4."""
    await runtime.create(
        InstanceSpec(
            name=name,
            image=image or settings.image_alias,
            cpus=settings.workspace_cpus,
            memory_mib=settings.workspace_memory_mib,
            environment={"WORKSPACE_NAME": name},
        )
    )
    await runtime.start(name)
    return await runtime.wait_for_ipv4(name, timeout=120)
