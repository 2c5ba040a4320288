"""A workspace as a row of the ``workspaces`` table, and back.

The ``spec`` column is JSON: the template, the size, the repository and the lifecycle fields
(the last stop's reason, a keepalive, the cluster member), each left out when unset, so a row
written before a field existed reads as that field's default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tidepool.domain.repositories import Repository
from tidepool.domain.templates import DEFAULT_TEMPLATE, Size
from tidepool.domain.workspace import Desired, Status, Workspace
from tidepool.store.tables import workspaces

#: What a workspace is read from, in the order ``workspace_of`` unpacks it.
WORKSPACE_COLUMNS = tuple(
    workspaces.c[name]
    for name in (
        "id",
        "name",
        "owner",
        "image",
        "desired",
        "status",
        "error",
        "address",
        "runtime_state",
        "spec",
        "created_at",
        "updated_at",
        "version",
    )
)


def spec_of(workspace: Workspace) -> dict[str, Any]:
    """The ``spec`` column: the template and the size, the unset parts left out."""
    size = {
        "cpus": workspace.size.cpus,
        "memory_mib": workspace.size.memory_mib,
        "disk_gib": workspace.size.disk_gib,
    }
    source = workspace.repository
    repository = {"repository": source.url, "branch": source.branch} if source else {}
    lifecycle = {
        "stop_reason": workspace.stop_reason,
        "keepalive_until": (
            workspace.keepalive_until.isoformat() if workspace.keepalive_until else None
        ),
        "location": workspace.location,
    }
    return {
        "template": workspace.template,
        **{k: v for k, v in size.items() if v is not None},
        **repository,
        **{k: v for k, v in lifecycle.items() if v},
    }


def from_spec(spec: Mapping[str, Any]) -> tuple[str, Size, Repository | None]:
    """The template, size and repository of a ``spec`` column (``{}`` before templates: the
    default template, no repository)."""
    size = Size(spec.get("cpus"), spec.get("memory_mib"), spec.get("disk_gib"))
    url = spec.get("repository")
    source = Repository(str(url), str(spec.get("branch") or "")) if url else None
    return str(spec.get("template") or DEFAULT_TEMPLATE), size, source


def lifecycle_of(spec: Mapping[str, Any]) -> tuple[str, datetime | None]:
    """The last stop's reason and the keepalive of a ``spec`` column (absent before idle
    stops: no reason, no keepalive)."""
    until = spec.get("keepalive_until")
    return str(spec.get("stop_reason") or ""), datetime.fromisoformat(until) if until else None


def row_of(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "owner": workspace.owner,
        "image": workspace.image,
        "desired": workspace.desired.value,
        "status": workspace.status.value,
        "error": workspace.error,
        "address": workspace.address,
        "runtime_state": workspace.runtime_state,
        "spec": spec_of(workspace),
        "created_at": workspace.created_at,
        "updated_at": workspace.updated_at,
        "version": workspace.version,
    }


#: The enums by value: a dict lookup, where calling the enum costs several Python frames per
#: row and showed in profiles of the list.
_DESIRED = {desired.value: desired for desired in Desired}
_STATUS = {status.value: status for status in Status}


def workspace_of(row: Sequence[Any]) -> Workspace:
    """The workspace of a row of ``WORKSPACE_COLUMNS``, unpacked by position: by name
    (``.mappings()`` or attributes) cost several times as much for a page of 50."""
    (
        id_,
        name,
        owner,
        image,
        desired,
        status,
        error,
        address,
        runtime_state,
        spec,
        created_at,
        updated_at,
        version,
    ) = row
    template, size, source = from_spec(spec)
    stop_reason, keepalive_until = lifecycle_of(spec)
    return Workspace(
        id=id_,
        name=name,
        owner=owner,
        image=image,
        desired=_DESIRED[desired],
        status=_STATUS[status],
        error=error,
        address=address,
        runtime_state=dict(runtime_state),
        template=template,
        size=size,
        repository=source,
        created_at=created_at,
        updated_at=updated_at,
        stop_reason=stop_reason,
        keepalive_until=keepalive_until,
        location=str(spec.get("location") or ""),
        version=version,
    )
