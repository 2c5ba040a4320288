"""The API's resources: one family of schemas per resource, strict about input."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tidepool.domain.names import MAX_NAME_LENGTH
from tidepool.domain.workspace import Desired, Status, Workspace

NAME_FIELD = Field(
    min_length=1,
    max_length=MAX_NAME_LENGTH,
    pattern=r"^[a-z]([a-z0-9-]*[a-z0-9])?$",
    description="A DNS-safe slug: a lowercase letter first, then lowercase letters, digits "
    "and hyphens, not ending with a hyphen.",
    examples=["my-workspace"],
)


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = NAME_FIELD
    image: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Image alias; the configured default if omitted.",
    )


class WorkspacePublic(BaseModel):
    id: str
    name: str
    owner: str
    image: str
    desired: Desired
    status: Status
    error: str
    address: str | None
    url: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, workspace: Workspace, base_url: str) -> WorkspacePublic:
        return cls(
            id=workspace.id,
            name=workspace.name,
            owner=workspace.owner,
            image=workspace.image,
            desired=workspace.desired,
            status=workspace.status,
            error=workspace.error,
            address=workspace.address,
            url=f"{base_url}/workspace/{workspace.name}/",
            created_at=workspace.created_at,
            updated_at=workspace.updated_at,
        )


class WorkspacesPublic(BaseModel):
    items: list[WorkspacePublic]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: str
    database: str
