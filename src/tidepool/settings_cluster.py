"""The settings of an Incus cluster (docs/scale-out.md), a part of ``Settings``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tidepool.domain.placement import PlacementPolicy


class ClusterSettings(BaseModel):
    placement: PlacementPolicy = Field(
        default=PlacementPolicy.INCUS,
        description="On a cluster, where new workspaces go: `incus` (its scheduler) or "
        "`least_memory` (the member whose running workspaces were promised the least memory, as a "
        "share of its own). A [[templates]] table's "
        "`cluster_group` keeps its workspaces to that group of members.",
    )
    cluster_bridge: str = Field(
        default="",
        pattern=r"^([a-z][a-z0-9_-]{0,14})?$",
        description="On a cluster with routed bridges: the bridge on every member that "
        "workspaces join (its own subnet and DHCP per member, routed from the edge); empty: "
        "the managed `bridge_name`.",
    )
