"""Users' default quotas (docs/workspaces.md), a part of ``Settings``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tidepool.domain.quotas import Quota


class QuotaSettings(BaseModel):
    quota_workspaces: int = Field(
        default=0, ge=0, description="How many workspaces each user may have; 0: no limit."
    )
    quota_running: int = Field(default=0, ge=0, description="How many may run at once; 0: any.")
    quota_cpus: int = Field(
        default=0, ge=0, description="CPUs of a user's running workspaces together; 0: any."
    )
    quota_memory_mib: int = Field(
        default=0, ge=0, description="Memory of a user's running workspaces together; 0: any."
    )

    @property
    def default_quota(self) -> Quota:
        """Everyone's quota unless the users file gives them their own (0: no limit)."""
        return Quota(
            workspaces=self.quota_workspaces or None,
            running=self.quota_running or None,
            cpus=self.quota_cpus or None,
            memory_mib=self.quota_memory_mib or None,
        )
