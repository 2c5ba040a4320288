"""The settings of activity and idle stops (docs/lifecycle.md), a part of ``Settings``."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from tidepool.domain.activity import IdleBounds


class ActivitySettings(BaseModel):
    idle_timeout_minutes: float = Field(
        default=30.0,
        ge=0,
        description="Stop a running workspace after this long without activity (an IDE tab, "
        "a connection, an SSH tunnel, running work, a keepalive: docs/lifecycle.md); 0: never. "
        "A [[templates]] table's `idle_timeout_minutes` for its workspaces.",
    )
    idle_warning_minutes: float = Field(
        default=5.0, ge=0, description="Warn before an idle stop (at most half the timeout)."
    )
    activity_interval_seconds: float = Field(default=30.0, gt=0)
    max_lifetime_hours: float = Field(
        default=0.0,
        ge=0,
        description="Stop a workspace this long after it last started, used or not (a warning "
        "first, as before an idle stop); 0: no limit. A [[templates]] table's own too.",
    )
    idle_timeout_user_min_minutes: float = Field(default=10.0, ge=1)
    idle_timeout_user_max_minutes: float = Field(
        default=480.0,
        ge=0,
        description="Users may choose their own idle timeout between the min and this (for "
        "all their workspaces, over the template's); 0: users may not choose.",
    )

    @property
    def idle_bounds(self) -> IdleBounds:
        """The idle timeouts users may choose for themselves."""
        return IdleBounds(self.idle_timeout_user_min_minutes, self.idle_timeout_user_max_minutes)

    @model_validator(mode="after")
    def _idle_bounds_in_order(self) -> Self:
        if self.idle_bounds.open and self.idle_bounds.low > self.idle_bounds.high:
            raise ValueError("idle_timeout_user_min_minutes is above idle_timeout_user_max_minutes")
        return self
