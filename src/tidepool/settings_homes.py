"""The settings of home volumes and their snapshots (docs/workspaces.md), a part of
``Settings``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tidepool.domain.snapshots import Retention


class HomeSettings(BaseModel):
    home_volumes: bool = Field(
        default=True,
        description="Each new workspace's /home/dev on an Incus volume of its own (what "
        "rebuild, snapshots, undelete and fork stand on); older ones move there at their next "
        "start. Off: home stays in the root filesystem (Tart always).",
    )
    snapshot_keep: int = Field(
        default=5,
        ge=0,
        description="Automatic snapshots (before a delete, an idle stop, a restore) kept per "
        "workspace, newest first; 0: any number. A user's own snapshots are never pruned.",
    )
    snapshot_days: float = Field(
        default=7.0,
        ge=0,
        description="Days an automatic snapshot is kept at most; 0: any age. A deleted "
        "workspace can be undeleted for this long.",
    )

    snapshot_sweep_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often automatic snapshots past retention are deleted, and with the "
        "last of them a deleted workspace's home.",
    )

    @property
    def retention(self) -> Retention:
        return Retention(keep=self.snapshot_keep, days=self.snapshot_days)
