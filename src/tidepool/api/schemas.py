"""The API's resources: one family of schemas per resource, strict about input."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from tidepool.domain.activity import Evidence
from tidepool.domain.home import home_of
from tidepool.domain.names import MAX_NAME_LENGTH, NAME_PATTERN, RESERVED_NAMES
from tidepool.domain.templates import TEMPLATE_NAME_PATTERN, Catalog, Size
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.ports import Event, Page
from tidepool.services.activity import Activity
from tidepool.services.devcontainer_setup import PORTS_KEY
from tidepool.services.setup_steps import HOME as SETUP_HOME

#: A running workspace's activity by its id (``ActivityWatch.activity``).
ActivityOf = Callable[[str], Activity | None]

#: Reserved names (JSON values, for mypy), refused with a 400 that says so.
NOT_RESERVED: JsonDict = {"enum": [name for name in sorted(RESERVED_NAMES)]}
#: The name rule as the schema states it for names the service parses itself (a path, a
#: token's limit): the service answers a broken rule with a 400 that says which one.
NAME_RULE: JsonDict = {
    "pattern": f"^{NAME_PATTERN}$",
    "maxLength": MAX_NAME_LENGTH,
    "not": NOT_RESERVED,
}

NAME_FIELD = Field(
    min_length=1,
    max_length=MAX_NAME_LENGTH,
    pattern=f"^{NAME_PATTERN}$",  # the one rule, the very string Caddy's config is given
    description="A DNS-safe slug: a lowercase letter first, then lowercase letters, digits "
    "and hyphens, not ending with a hyphen.",
    examples=["my-workspace"],
    json_schema_extra={"not": NOT_RESERVED},
)


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = NAME_FIELD
    template: str | None = Field(
        default=None,
        pattern=TEMPLATE_NAME_PATTERN,
        description="One of `GET /api/templates`; `default` if omitted.",
        examples=["default"],
    )
    cpus: int | None = Field(default=None, description="Instead of the template's.")
    memory_mib: int | None = Field(default=None, description="Instead of the template's.")
    disk_gib: int | None = Field(
        default=None, description="The root disk's size, instead of the template's."
    )
    repository: str | None = Field(
        default=None,
        max_length=500,
        description="An https:// git URL cloned into home at the first boot (no credentials "
        "in it), instead of the template's.",
        examples=["https://git.example.com/team/app.git"],
    )
    branch: str | None = Field(
        default=None, max_length=200, description="The branch to check out; the default one."
    )

    @property
    def size(self) -> Size:
        return Size(self.cpus, self.memory_mib, self.disk_gib)


class EvidencePublic(BaseModel):
    #: ide, connection, ssh, work, keepalive or start (docs/lifecycle.md).
    signal: str
    at: datetime
    #: What it was: ``sleep 600``, ``1 open to port 3000``.
    detail: str


class ActivityPublic(BaseModel):
    """What keeps a running workspace up, as the last look saw it."""

    #: The latest evidence: the workspace is active as of its time.
    last: EvidencePublic
    #: Every signal seen at the last look (empty: nothing now).
    now: list[EvidencePublic]
    #: When it stops for idleness if nothing happens (None: no idle stop).
    idle_stop_at: datetime | None


def no_activity(_: str) -> Activity | None:
    return None


def _evidence(item: Evidence) -> dict[str, Any]:
    return {"signal": item.signal.value, "at": item.at, "detail": item.detail}


def activity_fields(activity: Activity | None) -> dict[str, Any] | None:
    if activity is None:
        return None
    return {
        "last": _evidence(activity.last),
        "now": [_evidence(item) for item in activity.now],
        "idle_stop_at": activity.idle_stop_at,
    }


#: The image a template names now, by the template's name (None: no such template).
TemplateImage = Callable[[str], str | None]


def no_template_image(template: str) -> str | None:
    return None


class WorkspacePublic(BaseModel):
    # Forbid: ``of`` is built from ``public_fields``, so a field misnamed there fails here.
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    owner: str
    image: str
    template: str
    #: None: the platform's default of the day (a workspace made before templates).
    cpus: int | None
    memory_mib: int | None
    #: None: no limit but the storage pool's.
    disk_gib: int | None
    #: Cloned into home at the first boot (None: none).
    repository: str | None
    branch: str | None
    desired: Desired
    status: Status
    error: str
    address: str | None
    url: str
    created_at: datetime
    updated_at: datetime
    #: Why it was last asked to stop: user, idle, max_lifetime, quota or admin ("": never).
    stop_reason: str
    #: No idle stop before this time (None: no keepalive).
    keepalive_until: datetime | None
    #: The cluster member it lives on ("": not on a cluster).
    location: str = ""
    #: A running workspace's activity (None: not running, or not looked at yet).
    activity: ActivityPublic | None
    #: The ports its dev container forwards (``forwardPorts``), each with the URL that opens
    #: it: code-server's proxy on the IDE's own origin, behind the same sign-in.
    ports: list[ForwardedPort] = []
    #: Its home is a volume of its own (snapshots, rebuild, fork and undelete work on it);
    #: False: made before home volumes, it moves onto one at its next start.
    home_volume: bool = False
    #: It runs an older image than its template names now: a rebuild brings the new one.
    image_outdated: bool = False

    @classmethod
    def of(
        cls,
        workspace: Workspace,
        url_of: Callable[[str], str],
        activity_of: ActivityOf = no_activity,
        template_image: TemplateImage = no_template_image,
    ) -> WorkspacePublic:
        return cls(**public_fields(workspace, url_of, activity_of, template_image))


class ForwardedPort(BaseModel):
    port: int
    url: str


def forwarded_ports(workspace: Workspace, ide_url: str) -> list[dict[str, Any]]:
    """The dev container's ``forwardPorts`` (recorded by its setup), with their URLs."""
    ports = workspace.runtime_state.get(PORTS_KEY) or []
    return [{"port": port, "url": f"{ide_url}proxy/{port}/"} for port in ports]


def opened_folder(workspace: Workspace) -> str:
    """The query that opens the IDE on the cloned repository (its folder name is checked:
    letters, digits, ``.``, ``_`` and ``-`` only), or nothing."""
    if workspace.repository is None:
        return ""
    return f"?folder={SETUP_HOME}/{workspace.repository.folder}"


def public_fields(
    workspace: Workspace,
    url_of: Callable[[str], str],
    activity_of: ActivityOf = no_activity,
    template_image: TemplateImage = no_template_image,
) -> dict[str, Any]:
    """``WorkspacePublic``'s fields of ``workspace``, as plain values."""
    ide_url = url_of(workspace.name)
    current = template_image(workspace.template)
    return {
        "id": workspace.id,
        "name": workspace.name,
        "owner": workspace.owner,
        "image": workspace.image,
        "template": workspace.template,
        "cpus": workspace.size.cpus,
        "memory_mib": workspace.size.memory_mib,
        "disk_gib": workspace.size.disk_gib,
        "repository": workspace.repository.url if workspace.repository else None,
        "branch": workspace.repository.branch if workspace.repository else None,
        "desired": workspace.desired.value,
        "status": workspace.status.value,
        "error": workspace.error,
        "address": workspace.address,
        "url": ide_url + opened_folder(workspace),
        "created_at": workspace.created_at,
        "updated_at": workspace.updated_at,
        "stop_reason": workspace.stop_reason,
        "keepalive_until": workspace.keepalive_until,
        "location": workspace.location,
        "activity": activity_fields(activity_of(workspace.id)),
        "ports": forwarded_ports(workspace, ide_url),
        "home_volume": bool(home_of(workspace.runtime_state)),
        "image_outdated": current is not None and current != workspace.image,
    }


class WorkspacesPublic(BaseModel):
    items: list[WorkspacePublic]
    total: int
    limit: int
    offset: int

    @staticmethod
    def render(
        page: Page,
        limit: int,
        offset: int,
        url_of: Callable[[str], str],
        activity_of: ActivityOf = no_activity,
        template_image: TemplateImage = no_template_image,
    ) -> bytes:
        """The JSON of this model for ``page``, without building it.

        Plain dicts through pydantic-core's serializer: the same bytes (a unit test compares
        them) in a third of the time, for the API's busiest request.
        """
        items = [public_fields(w, url_of, activity_of, template_image) for w in page.items]
        body = {"items": items, "total": page.total, "limit": limit, "offset": offset}
        return pydantic_core.to_json(body)


class Health(BaseModel):
    status: str
    database: str


class TemplatePublic(BaseModel):
    name: str
    description: str
    image: str
    cpus: int | None
    memory_mib: int | None
    disk_gib: int | None
    repository: str | None = None
    branch: str | None = None


class MaximumsPublic(BaseModel):
    cpus: int
    memory_mib: int
    disk_gib: int


class TemplatesPublic(BaseModel):
    """What a new workspace can be made from, and the most it may ask for."""

    items: list[TemplatePublic]
    maximums: MaximumsPublic

    @classmethod
    def of(cls, catalog: Catalog) -> TemplatesPublic:
        items = [
            TemplatePublic(
                name=t.name,
                description=t.description,
                image=t.image,
                cpus=t.size.cpus,
                memory_mib=t.size.memory_mib,
                disk_gib=t.size.disk_gib,
                repository=t.repository.url if t.repository else None,
                branch=t.repository.branch if t.repository else None,
            )
            for t in catalog.templates
        ]
        most = catalog.maximums
        return cls(
            items=items,
            maximums=MaximumsPublic(
                cpus=most.cpus, memory_mib=most.memory_mib, disk_gib=most.disk_gib
            ),
        )


class LogEntry(BaseModel):
    #: The setup step that printed it (``clone``).
    step: str
    at: datetime
    text: str


class LogsPublic(BaseModel):
    items: list[LogEntry]

    @classmethod
    def of(cls, events: Iterable[Event]) -> LogsPublic:
        return cls(
            items=[
                LogEntry(step=event.value, at=event.at, text=event.detail)
                for event in events
                if event.kind == "log"
            ]
        )
