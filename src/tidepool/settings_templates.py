"""One ``[[templates]]`` table of the config file, as ``Settings.templates`` holds it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tidepool.domain.pool import MAX_POOL_SIZE
from tidepool.domain.templates import TEMPLATE_NAME_PATTERN


class TemplateSettings(BaseModel):
    """One ``[[templates]]`` table of the config file; a size left out is the platform's
    (``workspace_cpus``, ``workspace_memory_mib``; no disk limit but the pool's)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TEMPLATE_NAME_PATTERN)
    description: str = Field(default="", max_length=200)
    image: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9._/-]{0,199})?$")
    cpus: int | None = None
    memory_mib: int | None = None
    disk_gib: int | None = None
    repository: str = ""
    branch: str = ""
    pool_size: int = Field(default=0, ge=0, le=MAX_POOL_SIZE)
    #: This template's own idle timeout (None: the platform's ``idle_timeout_minutes``).
    idle_timeout_minutes: float | None = Field(default=None, ge=0)
    max_lifetime_hours: float | None = Field(default=None, ge=0)
    #: On a cluster: only members of this Incus cluster group take its workspaces.
    cluster_group: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9_-]{0,62})?$")
